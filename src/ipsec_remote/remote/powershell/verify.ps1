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

function Get-Cim($o, [string]$Name) {
    if ($null -eq $o) { return $null }
    $p = $o.PSBase.CimInstanceProperties[$Name]
    if ($null -eq $p) { return $null }
    return $p.Value
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
    $pending += [pscustomobject]@{ Target = [string]$p.Target; Port = [int]$p.Port; Client = $client; Async = $async
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
    $secured = @{}  # the peers this host has a quick-mode SA with (keys compare case-insensitively)
    $listed = @(Get-NetIPsecQuickModeSA -ErrorAction Stop)
    foreach ($sa in $listed) { $secured[[string](Get-Cim $sa 'RemoteEndpoint')] = $true }
    $still = @()
    foreach ($x in $open) {
        if ($secured.ContainsKey($x.Target)) { $x.Secured = $true; $x.Done = $true } else { $still += $x }
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

$mm = @()
foreach ($sa in @(Get-NetIPsecMainModeSA -ErrorAction Stop)) {
    $mm += [pscustomobject]@{
        InstanceID      = [string](Get-Cim $sa 'InstanceID')
        LocalEndpoint   = [string](Get-Cim $sa 'LocalEndpoint')
        RemoteEndpoint  = [string](Get-Cim $sa 'RemoteEndpoint')
        CipherAlgorithm = Get-Cim $sa 'CipherAlgorithm'
        HashAlgorithm   = Get-Cim $sa 'HashAlgorithm'
        GroupId         = Get-Cim $sa 'GroupId'
        KeyModule       = Get-Cim $sa 'KeyModule'
    }
}
$qm = @()
foreach ($sa in @(Get-NetIPsecQuickModeSA -ErrorAction Stop)) {
    $qm += [pscustomobject]@{
        InstanceID               = [string](Get-Cim $sa 'InstanceID')
        LocalEndpoint            = [string](Get-Cim $sa 'LocalEndpoint')
        RemoteEndpoint           = [string](Get-Cim $sa 'RemoteEndpoint')
        FirstTransformType       = Get-Cim $sa 'FirstTransformType'
        FirstCipherAlgorithm     = Get-Cim $sa 'FirstCipherAlgorithm'
        FirstIntegrityAlgorithm  = Get-Cim $sa 'FirstIntegrityAlgorithm'
        SecondTransformType      = Get-Cim $sa 'SecondTransformType'
        SecondCipherAlgorithm    = Get-Cim $sa 'SecondCipherAlgorithm'
        SecondIntegrityAlgorithm = Get-Cim $sa 'SecondIntegrityAlgorithm'
        PfsGroupId               = Get-Cim $sa 'PfsGroupId'
        MmSaId                   = Get-Cim $sa 'MmSaId'
    }
}
[pscustomobject]@{ Probes = $results; MainModeSAs = $mm; QuickModeSAs = $qm }
