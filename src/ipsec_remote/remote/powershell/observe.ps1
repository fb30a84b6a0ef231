# One chunk of an observation, looped on the host so it costs one round trip: every IntervalMilliseconds
# until WindowSeconds pass, read the TCP connections, the UDP endpoints and the quick-mode SAs; aggregate the
# connections per peer and service port, each sample counted protected or clear. With -EventsSince, also read
# the Filtering Platform Connection events (5156 permitted, 5157 blocked) since -EventsSince (the first chunk's
# Started, as this host wrote it), else since this chunk's start.
# What each source sees and misses (docs/traffic.md):
# - Get-NetTCPConnection: current TCP connections (MSFT_NetTCPConnection: LocalAddress/Port,
#   RemoteAddress/Port, State — uint8, compared with -ListenState, the class page's Listen code, which the
#   controller passes from remote/cimcodes.py); a connection opened and closed between two samples is missed.
# - Get-NetUDPEndpoint: local UDP endpoints only (MSFT_NetUDPEndpoint has no remote end): no peers.
# - Get-NetIPsecQuickModeSA: the endpoints IPsec protects (RemoteEndpoint, IpProtocol, LocalPort/RemotePort,
#   0 = all); a connection counts as protected in a sample when a QM SA covers its peer, protocol and ports.
# - Events 5156/5157 (audit-filtering-platform-connection.md): one per connection permitted or blocked,
#   short ones and UDP peers included, only while the subcategory is audited; they do not say whether IPsec
#   protected the connection. Their Properties follow the EventData order of event-5156.md: ProcessID,
#   Application, Direction, SourceAddress (local), SourcePort, DestAddress (remote), DestPort, Protocol.
#   Direction is a message code (%%14592 inbound): -InboundDirections, passed by the controller.
# Every NetTCPIP/NetSecurity read goes through the documented CIM property (PSBase.CimInstanceProperties).
param(
    [int]$WindowSeconds = 10,
    [int]$IntervalMilliseconds = 1000,
    [switch]$ReadEvents,
    [string]$EventsSince = '',
    [int]$MaxEvents = 10000,
    [int]$ListenState = -1,
    [string[]]$InboundDirections = @()
)
$ErrorActionPreference = 'Stop'

function Get-Cim($o, [string]$Name) {
    if ($null -eq $o) { return $null }
    $p = $o.PSBase.CimInstanceProperties[$Name]
    if ($null -eq $p) { return $null }
    return $p.Value
}

# A peer is compared as a parsed address ([ipaddress], as reset_sas.ps1 does): how an SA's RemoteEndpoint
# writes an IPv6 address is not documented, and MSFT_NetTCPConnection may write the same address otherwise.
function ConvertTo-AddressKey([string]$text) {
    try { return [string]([ipaddress]$text) } catch { return $text.ToLowerInvariant() }
}

$unspecified = @('0.0.0.0', '::', '127.0.0.1', '::1')
$flows = @{}
$secured = @{}
$udp = @{}
$problems = @()
$samples = 0
$startedAt = Get-Date
$started = $startedAt.ToUniversalTime().ToString('o')
$deadline = $startedAt.AddSeconds($WindowSeconds)
while ($true) {
    $stamp = (Get-Date).ToUniversalTime().ToString('o')
    $sas = @()
    try {
        $sas = @(Get-NetIPsecQuickModeSA -ErrorAction Stop)
    } catch {
        $problems += ('Get-NetIPsecQuickModeSA: ' + $_.Exception.Message)
    }
    $keyed = @()  # each SA with its RemoteEndpoint as an address key
    foreach ($sa in $sas) {
        $peerKey = ConvertTo-AddressKey ([string](Get-Cim $sa 'RemoteEndpoint'))
        $keyed += [pscustomobject]@{ Peer = $peerKey; Sa = $sa }
        $desc = [string](Get-Cim $sa 'IpProtocol') + '|' + $peerKey + '|' +
            [string](Get-Cim $sa 'LocalPort') + '|' + [string](Get-Cim $sa 'RemotePort')
        $secured[$desc] = $true
    }
    $tcp = @()
    try {
        $tcp = @(Get-NetTCPConnection -ErrorAction Stop)
    } catch {
        $problems += ('Get-NetTCPConnection: ' + $_.Exception.Message)
    }
    $listening = @{}
    foreach ($c in $tcp) {
        if ([int](Get-Cim $c 'State') -eq $ListenState) { $listening[[string](Get-Cim $c 'LocalPort')] = $true }
    }
    foreach ($c in $tcp) {
        $remote = [string](Get-Cim $c 'RemoteAddress')
        if ([int](Get-Cim $c 'State') -eq $ListenState -or $unspecified -contains $remote) { continue }
        $lport = [int](Get-Cim $c 'LocalPort')
        $rport = [int](Get-Cim $c 'RemotePort')
        $direction = 'Outbound'
        $port = $rport
        if ($listening.ContainsKey([string]$lport)) {
            $direction = 'Inbound'
            $port = $lport
        }
        $protected = $false
        $remoteKey = ConvertTo-AddressKey $remote
        foreach ($k in $keyed) {
            if ($k.Peer -ne $remoteKey) { continue }
            $sa = $k.Sa
            $proto = [int](Get-Cim $sa 'IpProtocol')
            $saLocal = [int](Get-Cim $sa 'LocalPort')
            $saRemote = [int](Get-Cim $sa 'RemotePort')
            if (($proto -eq 0 -or $proto -eq 6) -and ($saLocal -eq 0 -or $saLocal -eq $lport) -and
                ($saRemote -eq 0 -or $saRemote -eq $rport)) {
                $protected = $true
                break
            }
        }
        $key = 'TCP|' + $direction + '|' + $remote + '|' + [string]$port
        $f = $flows[$key]
        if ($null -eq $f) {
            $f = @{ Direction = $direction; RemoteAddress = $remote; Port = $port; FirstSeen = $stamp;
                    Samples = 0; Protected = 0 }
            $flows[$key] = $f
        }
        $f['LastSeen'] = $stamp
        $f['Samples'] = $f['Samples'] + 1
        if ($protected) { $f['Protected'] = $f['Protected'] + 1 }
    }
    try {
        foreach ($u in @(Get-NetUDPEndpoint -ErrorAction Stop)) {
            $udp[[string](Get-Cim $u 'LocalPort')] = $true
        }
    } catch {
        $problems += ('Get-NetUDPEndpoint: ' + $_.Exception.Message)
    }
    $samples = $samples + 1
    if ((Get-Date) -ge $deadline) { break }
    Start-Sleep -Milliseconds $IntervalMilliseconds
}

$events = @()
$eventsRead = $false
if ($ReadEvents) {
    $since = $startedAt
    if ($EventsSince -ne '') { $since = [datetime]$EventsSince }
    $found = @()
    try {
        $filter = @{ LogName = 'Security'; Id = @(5156, 5157); StartTime = $since }
        $found = @(Get-WinEvent -FilterHashtable $filter -MaxEvents $MaxEvents -ErrorAction Stop)
        $eventsRead = $true
    } catch {
        if ($_.FullyQualifiedErrorId -like 'NoMatchingEventsFound*') {
            $eventsRead = $true
        } else {
            $problems += ('Get-WinEvent: ' + $_.Exception.Message)
        }
    }
    $byFlow = @{}
    foreach ($e in $found) {
        $p = @($e.Properties)
        if ($p.Count -lt 8) { continue }
        $direction = 'Outbound'
        $raw = [string]$p[2].Value
        if ($InboundDirections -contains $raw) { $direction = 'Inbound' }
        $remote = [string]$p[5].Value
        if ($unspecified -contains $remote) { continue }
        $port = [int]$p[6].Value
        if ($direction -eq 'Inbound') { $port = [int]$p[4].Value }
        $protocol = [int]$p[7].Value
        $when = $e.TimeCreated.ToUniversalTime().ToString('o')
        $key = [string]$protocol + '|' + $direction + '|' + $remote + '|' + [string]$port
        $f = $byFlow[$key]
        if ($null -eq $f) {
            $f = @{ Protocol = $protocol; Direction = $direction; RemoteAddress = $remote; Port = $port;
                    LocalPort = [int]$p[4].Value; RemotePort = [int]$p[6].Value; FirstSeen = $when;
                    LastSeen = $when; Permitted = 0; Blocked = 0 }
            $byFlow[$key] = $f
        }
        if ($when -lt $f['FirstSeen']) { $f['FirstSeen'] = $when }
        if ($when -gt $f['LastSeen']) { $f['LastSeen'] = $when }
        if ([int]$e.Id -eq 5157) { $f['Blocked'] = $f['Blocked'] + 1 } else { $f['Permitted'] = $f['Permitted'] + 1 }
    }
    foreach ($f in @($byFlow.Values)) {
        $events += [pscustomobject]@{
            Protocol = $f['Protocol']; Direction = $f['Direction']; RemoteAddress = $f['RemoteAddress']
            Port = $f['Port']; LocalPort = $f['LocalPort']; RemotePort = $f['RemotePort']
            FirstSeen = $f['FirstSeen']; LastSeen = $f['LastSeen']; Permitted = $f['Permitted']; Blocked = $f['Blocked']
        }
    }
}

$tcpFlows = @()
foreach ($f in @($flows.Values)) {
    $tcpFlows += [pscustomobject]@{
        Direction = $f['Direction']; RemoteAddress = $f['RemoteAddress']; Port = $f['Port']
        FirstSeen = $f['FirstSeen']; LastSeen = $f['LastSeen']; Samples = $f['Samples']; Protected = $f['Protected']
    }
}
[pscustomobject]@{
    Started      = $started
    Finished     = (Get-Date).ToUniversalTime().ToString('o')
    Samples      = $samples
    Tcp          = $tcpFlows
    UdpPorts     = @($udp.Keys)
    Secured      = @($secured.Keys)
    EventsRead   = $eventsRead
    Events       = $events
    Problems     = $problems
}
