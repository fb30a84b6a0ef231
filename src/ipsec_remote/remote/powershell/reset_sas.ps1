# Deletes this host's SAs with the given peers, so the next traffic negotiates under the policy in force
# now: rekey's step (new SAs with the inventory's proposals). Promote and status never send it: under
# Require, the pair's packets are dropped until IKE renegotiates (docs/traffic.md); they judge the SAs in
# place and probe what a renegotiation needs (a DC on TCP 88) instead.
# Quick-mode SAs first, then main-mode SAs: nothing documents that deleting a main-mode SA takes the
# quick-mode SAs negotiated inside it along. An SA may expire (or the peer's delete notification remove it)
# between the read and the removal: an SA that is gone afterwards counts as done. Peers are compared as
# parsed addresses ([ipaddress]: an IPv6 address written differently is the same peer).
param(
    [string[]]$Peers = @()
)
$ErrorActionPreference = 'Stop'

function Get-Cim($o, [string]$Name) {
    if ($null -eq $o) { return $null }
    $p = $o.PSBase.CimInstanceProperties[$Name]
    if ($null -eq $p) { return $null }
    return $p.Value
}

function ConvertTo-AddressKey([string]$text) {
    try { return [string]([ipaddress]$text) } catch { return $text.ToLowerInvariant() }
}

$peerKeys = @()
foreach ($peer in $Peers) { $peerKeys += ConvertTo-AddressKey $peer }

function Remove-PeerSA([string]$Kind) {
    $removed = 0
    $getter = 'Get-NetIPsec' + $Kind + 'SA'
    $remover = 'Remove-NetIPsec' + $Kind + 'SA'
    foreach ($sa in @(& $getter -ErrorAction Stop)) {
        if ($peerKeys -notcontains (ConvertTo-AddressKey ([string](Get-Cim $sa 'RemoteEndpoint')))) { continue }
        try {
            & $remover -InputObject $sa -ErrorAction Stop
            $removed = $removed + 1
        } catch {
            $id = [string](Get-Cim $sa 'InstanceID')
            $still = @(& $getter -ErrorAction Stop | Where-Object { [string](Get-Cim $_ 'InstanceID') -eq $id })
            if ($still.Count -gt 0) { throw }
        }
    }
    return $removed
}

$quick = Remove-PeerSA 'QuickMode'
$main = Remove-PeerSA 'MainMode'
[pscustomobject]@{ Removed = $main; MainModeRemoved = $main; QuickModeRemoved = $quick }
