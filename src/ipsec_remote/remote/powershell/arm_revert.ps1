# Arms the on-host dead-man's switch before a promotion wave changes anything: writes the revert script
# (the package's fixed revert_task.ps1 text) and its data (one rule per line: name|inbound|outbound|store,
# the settings to restore), then registers a one-time SYSTEM task that runs it at now + DeadlineSeconds
# unless the controller confirms (disarm_revert.ps1) first.
param(
    [string]$RevertScript,
    [string[]]$Lines = @(),
    [int]$DeadlineSeconds = 120
)
$ErrorActionPreference = 'Stop'
$dir = 'C:\ProgramData\ipsec-remote'
if (-not (Test-Path -Path $dir)) {
    New-Item -Path $dir -ItemType Directory | Out-Null
}
Set-Content -Path ($dir + '\revert.txt') -Value $Lines
Set-Content -Path ($dir + '\revert.ps1') -Value $RevertScript
if (Test-Path -Path ($dir + '\revert.done')) {
    Remove-Item -Path ($dir + '\revert.done')
}
$at = (Get-Date).AddSeconds($DeadlineSeconds)
$action = New-ScheduledTaskAction -Execute 'powershell.exe' -Argument ('-NoProfile -ExecutionPolicy Bypass -File "' + $dir + '\revert.ps1"')
$trigger = New-ScheduledTaskTrigger -Once -At $at
$principal = New-ScheduledTaskPrincipal -UserId 'SYSTEM'
Register-ScheduledTask -TaskName 'ipsec-remote-revert' -TaskPath '\ipsec-remote\' -Action $action -Trigger $trigger -Principal $principal -Force | Out-Null
[pscustomobject]@{ TaskName = 'ipsec-remote-revert'; Deadline = $at.ToUniversalTime().ToString('o'); Rules = $Lines.Count }
