# Recent IPsec audit events from the Security log (4650-4655 main mode, 5451-5453 quick mode and
# IKEEXT, 4963 clear text dropped). Get-WinEvent reports "no events" as an error: that is not a failure.
param(
    [int]$SinceSeconds = 900,
    [int]$MaxEvents = 200
)
$ErrorActionPreference = 'Stop'
$since = (Get-Date).AddSeconds(-$SinceSeconds)
$filter = @{ LogName = 'Security'; Id = @(4650, 4651, 4652, 4653, 4654, 4655, 5451, 5452, 5453, 4963); StartTime = $since }
$events = @()
try {
    $events = @(Get-WinEvent -FilterHashtable $filter -MaxEvents $MaxEvents)
} catch {
    if ($_.FullyQualifiedErrorId -notlike 'NoMatchingEventsFound*') { throw }
}
foreach ($e in $events) {
    [pscustomobject]@{
        Id          = [int]$e.Id
        TimeCreated = $e.TimeCreated.ToUniversalTime().ToString('o')
        Message     = [string]$e.Message
    }
}
