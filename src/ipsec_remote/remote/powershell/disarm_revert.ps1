# Confirms a promotion wave: the dead-man's switch is removed (task and files). Also clears leftovers on
# rollback. Reports whether a revert had already run (its marker).
$ErrorActionPreference = 'Stop'
$dir = 'C:\ProgramData\ipsec-remote'
$removed = $false
$task = Get-ScheduledTask -TaskName 'ipsec-remote-revert' -TaskPath '\ipsec-remote\' -ErrorAction SilentlyContinue
if ($null -ne $task) {
    Unregister-ScheduledTask -TaskName 'ipsec-remote-revert' -TaskPath '\ipsec-remote\' -Confirm:$false
    $removed = $true
}
foreach ($f in @(($dir + '\revert.txt'), ($dir + '\revert.ps1'))) {
    if (Test-Path -Path $f) { Remove-Item -Path $f }
}
$ran = Test-Path -Path ($dir + '\revert.done')
[pscustomobject]@{ TaskRemoved = $removed; RevertRan = $ran }
