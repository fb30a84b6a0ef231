# One verification round on one host: make traffic toward each peer (so IKE negotiates), then read this
# host's main-mode and quick-mode SAs through their documented CIM properties (MSFT_NetMainModeSA,
# MSFT_NetQuickModeSA class pages): numeric codes, mapped to names on the controller (ops/verify.py).
#
# Probing: Test-NetConnection has no timeout (toward a port the firewall drops it waits out the SYN
# retransmissions, about 21 s) and writes progress records. A bounded TcpClient connect is started toward
# every peer first, then all are awaited against one deadline. IKE negotiates on the first packet whatever
# then happens to the SYN, so a refused or timed-out connect still proves the pair; the outcome is reported.
#
# A probe marked UntilSa (the controller's pair probes) waits for a quick-mode SA toward its target to be
# listed, not for its connect: the SA decides a pair. Toward a port the peer's firewall drops, the connect
# would hold the round for the whole bound; toward one that answers in clear (negotiation discovery with a
# peer that accepts clear text) it would end the round before IKE is done. It stops at the SA or the
# deadline. Outcome 'secured' = SA up, connect not finished (Connected False). Each look is one
# Get-NetIPsecQuickModeSA (a CIM call): at most TimeoutMs/PollMs of them, plus one per probe whose connect
# ends a wait early; none once every pair probe has its SA. Other probes (dependencies such as the KDC, whose
# connect is the answer) wait for their connect or the deadline.
param(
    [object[]]$Probes = @(),
    [int]$TimeoutMs = 3000,
    [int]$PollMs = 200
)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

# A peer is compared as a parsed address ([ipaddress], as reset_sas.ps1 does): how an SA's RemoteEndpoint
# writes an IPv6 address is not documented, and one written differently from the controller's text is the
# same peer. Text that is not an address is compared as it is.
function ConvertTo-AddressKey([string]$text) {
    try { return [string]([ipaddress]$text) } catch { return $text.ToLowerInvariant() }
}

$pending = @()
foreach ($p in $Probes) {
    $client = New-Object -TypeName System.Net.Sockets.TcpClient
    $async = $null
    $message = $null
    try {
        $async = $client.BeginConnect([string]$p.Target, [int]$p.Port, $null, $null)
    } catch {
        $message = $_.Exception.Message
    }
    $pending += [pscustomobject]@{ Target = [string]$p.Target; Key = (ConvertTo-AddressKey ([string]$p.Target))
                                   Port = [int]$p.Port; Client = $client; Async = $async
                                   Error = $message; UntilSa = [bool]$p.UntilSa; Done = ($null -eq $async)
                                   Secured = $false; Answered = $false }
}
$deadline = (Get-Date).AddMilliseconds($TimeoutMs)
$poll = [Math]::Max(1, $PollMs)
$spent = 0  # ms of whole waits between looks: with the deadline, what ends the looking
while ($true) {
    $open = @()
    foreach ($x in $pending) {
        if ($x.UntilSa -and -not $x.Done) { $open += $x }
    }
    if ($open.Count -eq 0) { break }
    $secured = @{}  # the peers this host has a quick-mode SA with, as address keys
    foreach ($sa in @(Get-NetIPsecQuickModeSA -ErrorAction Stop)) {
        $secured[(ConvertTo-AddressKey ([string]$sa.PSBase.CimInstanceProperties['RemoteEndpoint'].Value))] = $true
    }
    $still = @()
    foreach ($x in $open) {
        if ($secured.ContainsKey($x.Key)) { $x.Secured = $true; $x.Done = $true } else { $still += $x }
    }
    $left = [Math]::Min(($deadline - (Get-Date)).TotalMilliseconds, $TimeoutMs - $spent)
    if ($still.Count -eq 0 -or $left -le 0) { break }
    # The wait between looks: on a connect still under way, so its answer ends the wait early (once per
    # probe: at most TimeoutMs/PollMs + one per probe looks); when every one has answered, a plain sleep.
    $slice = [int][Math]::Min($poll, $left)
    $busy = $null
    foreach ($x in $still) {
        if ($null -eq $busy -and -not $x.Answered) { $busy = $x }
    }
    if ($null -eq $busy) {
        Start-Sleep -Milliseconds $slice
        $spent += $slice
    } elseif ($busy.Async.AsyncWaitHandle.WaitOne($slice)) {
        $busy.Answered = $true
    } else {
        $spent += $slice
    }
}
$results = @()
foreach ($x in $pending) {
    $outcome = 'error'
    $message = $x.Error
    if ($null -ne $x.Async) {
        # An UntilSa probe was awaited above (until its SA or the deadline): its connect, as it stands now.
        $left = 0
        if (-not $x.UntilSa) { $left = [int][Math]::Max(0, ($deadline - (Get-Date)).TotalMilliseconds) }
        if ($x.Async.AsyncWaitHandle.WaitOne($left)) {
            try {
                $x.Client.EndConnect($x.Async)
                $outcome = 'connected'
            } catch {
                $outcome = 'refused'
                $message = $_.Exception.Message
            }
        } elseif ($x.Secured) {
            $outcome = 'secured'
        } else {
            $outcome = 'timeout'
        }
    }
    $x.Client.Close()
    $results += [pscustomobject]@{ Target = $x.Target; Port = $x.Port; Outcome = $outcome; Connected = ($outcome -eq 'connected'); Error = $message }
}

# An SA's properties are read through its CimInstanceProperties, fetched once per SA, with no function call
# per property: one per property made this read about three times as costly in the lab's engine. Every SA
# returned is a CIM instance, so there is no null instance to guard against; a property the instance does not
# carry indexes to $null, and $null.Value is $null (no Set-StrictMode here).
$mm = @()
foreach ($sa in @(Get-NetIPsecMainModeSA -ErrorAction Stop)) {
    $props = $sa.PSBase.CimInstanceProperties
    $mm += [pscustomobject]@{
        InstanceID      = [string]$props['InstanceID'].Value
        LocalEndpoint   = [string]$props['LocalEndpoint'].Value
        RemoteEndpoint  = [string]$props['RemoteEndpoint'].Value
        CipherAlgorithm = $props['CipherAlgorithm'].Value
        HashAlgorithm   = $props['HashAlgorithm'].Value
        GroupId         = $props['GroupId'].Value
        KeyModule       = $props['KeyModule'].Value
    }
}
$qm = @()
foreach ($sa in @(Get-NetIPsecQuickModeSA -ErrorAction Stop)) {
    $props = $sa.PSBase.CimInstanceProperties
    $qm += [pscustomobject]@{
        InstanceID               = [string]$props['InstanceID'].Value
        LocalEndpoint            = [string]$props['LocalEndpoint'].Value
        RemoteEndpoint           = [string]$props['RemoteEndpoint'].Value
        FirstTransformType       = $props['FirstTransformType'].Value
        FirstCipherAlgorithm     = $props['FirstCipherAlgorithm'].Value
        FirstIntegrityAlgorithm  = $props['FirstIntegrityAlgorithm'].Value
        SecondTransformType      = $props['SecondTransformType'].Value
        SecondCipherAlgorithm    = $props['SecondCipherAlgorithm'].Value
        SecondIntegrityAlgorithm = $props['SecondIntegrityAlgorithm'].Value
        PfsGroupId               = $props['PfsGroupId'].Value
        MmSaId                   = $props['MmSaId'].Value
    }
}
[pscustomobject]@{ Probes = $results; MainModeSAs = $mm; QuickModeSAs = $qm }
