# Reads a dead-man's switch without changing anything: is its task still registered, its state and last run
# (Get-ScheduledTaskInfo: LastRunTime, LastTaskResult — 0x41303 "has not yet run", 0x41301 "is currently
# running" — NextRunTime), the host's clock, and the marker its run leaves, with the security descriptors
# (Get-Acl's Sddl) of the marker and its folder so the controller trusts a marker only from a folder and a
# file that only SYSTEM and Administrators can write. MSFT_ScheduledTask / MSFT_TaskDynamicInfo properties
# are read by their CIM property names.
param(
    [string[]]$TaskNames = @('ipsec-remote-revert')
)
$ErrorActionPreference = 'Stop'
$dir = $env:ProgramData + '\ipsec-remote'
$folderSddl = ''
try {
    if (Test-Path -LiteralPath $dir -PathType Container) { $folderSddl = (Get-Acl -LiteralPath $dir).Sddl }
} catch { $folderSddl = '' }
foreach ($name in $TaskNames) {
    $present = $false
    $state = ''
    $lastRun = ''
    $lastResult = $null
    $nextRun = ''
    try {
        $task = Get-ScheduledTask -TaskName $name -TaskPath '\ipsec-remote\' -ErrorAction SilentlyContinue
        if ($null -ne $task) {
            $present = $true
            $state = [string]$task.State
            $info = Get-ScheduledTaskInfo -TaskName $name -TaskPath '\ipsec-remote\' -ErrorAction Stop
            $lastResult = [int64]$info.LastTaskResult
            if ($null -ne $info.LastRunTime) { $lastRun = ([datetime]$info.LastRunTime).ToString('o') }
            if ($null -ne $info.NextRunTime) { $nextRun = ([datetime]$info.NextRunTime).ToString('o') }
        }
    } catch {
        $state = 'unreadable: ' + $_.Exception.Message
    }
    $marker = $dir + '\' + $name + '.done'
    $text = ''
    $markerSddl = ''
    try {
        if (Test-Path -LiteralPath $marker -PathType Leaf) {
            $text = (@(Get-Content -LiteralPath $marker) -join "`n")
            $markerSddl = (Get-Acl -LiteralPath $marker).Sddl
        }
    } catch { $text = '' }
    [pscustomobject]@{
        TaskName       = $name
        TaskPresent    = $present
        State          = $state
        LastRunTime    = $lastRun
        LastTaskResult = $lastResult
        NextRunTime    = $nextRun
        HostNow        = (Get-Date).ToString('o')
        Marker         = $text
        MarkerSddl     = $markerSddl
        FolderSddl     = $folderSddl
    }
}
