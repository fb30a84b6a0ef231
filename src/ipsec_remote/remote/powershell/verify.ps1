# One verification round on one host: make traffic toward each peer (so IKE negotiates), then read this
# host's main-mode and quick-mode SAs through their documented CIM properties (MSFT_NetMainModeSA,
# MSFT_NetQuickModeSA class pages): numeric codes, mapped to names on the controller (ops/verify.py).
#
# Probing: Test-NetConnection has no timeout (toward a port the firewall drops it waits out the SYN
# retransmissions, about 21 s) and writes progress records. A bounded TcpClient connect is started toward
# every peer first, then all are awaited against one deadline. IKE negotiates on the first packet whatever
# then happens to the SYN, so a refused or timed-out connect still proves the pair; the outcome is reported.
param(
    [object[]]$Probes = @(),
    [int]$TimeoutMs = 3000
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
    $pending += [pscustomobject]@{ Target = [string]$p.Target; Port = [int]$p.Port; Client = $client; Async = $async; Error = $message }
}
$deadline = (Get-Date).AddMilliseconds($TimeoutMs)
$results = @()
foreach ($x in $pending) {
    $outcome = 'error'
    $message = $x.Error
    if ($null -ne $x.Async) {
        $left = [int][Math]::Max(0, ($deadline - (Get-Date)).TotalMilliseconds)
        if ($x.Async.AsyncWaitHandle.WaitOne($left)) {
            try {
                $x.Client.EndConnect($x.Async)
                $outcome = 'connected'
            } catch {
                $outcome = 'refused'
                $message = $_.Exception.Message
            }
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
