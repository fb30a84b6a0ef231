# One verification round on one host: make traffic toward each peer (so IKE negotiates), then read
# this host's main-mode and quick-mode SAs with the documented property names.
param(
    [object[]]$Probes = @()
)
$ErrorActionPreference = 'Stop'
$results = @()
foreach ($p in $Probes) {
    $ok = $false
    $message = $null
    try {
        $r = Test-NetConnection -ComputerName ([string]$p.Target) -Port ([int]$p.Port) -WarningAction SilentlyContinue
        $ok = [bool]$r.TcpTestSucceeded
    } catch {
        $message = $_.Exception.Message
    }
    $results += [pscustomobject]@{ Target = [string]$p.Target; Port = [int]$p.Port; TcpTestSucceeded = $ok; Error = $message }
}
$mm = @()
foreach ($sa in @(Get-NetIPsecMainModeSA)) {
    $mm += [pscustomobject]@{
        LocalEndpoint   = [string]$sa.LocalEndpoint
        RemoteEndpoint  = [string]$sa.RemoteEndpoint
        CipherAlgorithm = [int]$sa.CipherAlgorithm
        HashAlgorithm   = [int]$sa.HashAlgorithm
        GroupId         = [int]$sa.GroupId
    }
}
$qm = @()
foreach ($sa in @(Get-NetIPsecQuickModeSA)) {
    $qm += [pscustomobject]@{
        LocalEndpoint           = [string]$sa.LocalEndpoint
        RemoteEndpoint          = [string]$sa.RemoteEndpoint
        FirstCipherAlgorithm    = [int]$sa.FirstCipherAlgorithm
        FirstIntegrityAlgorithm = [int]$sa.FirstIntegrityAlgorithm
        PfsGroupId              = [int]$sa.PfsGroupId
    }
}
[pscustomobject]@{ Probes = $results; MainModeSAs = $mm; QuickModeSAs = $qm }
