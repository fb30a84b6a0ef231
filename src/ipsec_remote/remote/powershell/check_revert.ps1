# After a failed wave: did the dead-man's switch run, and is its task gone?
$ErrorActionPreference = 'Stop'
$dir = 'C:\ProgramData\ipsec-remote'
$task = Get-ScheduledTask -TaskName 'ipsec-remote-revert' -TaskPath '\ipsec-remote\' -ErrorAction SilentlyContinue
$marker = $null
if (Test-Path -Path ($dir + '\revert.done')) {
    $marker = [string](@(Get-Content -Path ($dir + '\revert.done')) | Select-Object -First 1)
}
[pscustomobject]@{ TaskPresent = ($null -ne $task); RevertRan = ($null -ne $marker); Marker = $marker }
