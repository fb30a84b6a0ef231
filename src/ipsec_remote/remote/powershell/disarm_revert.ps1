# Confirms a promotion wave (or ends a drill, or clears what an interrupted promote left): the task is
# removed first, then its data and marker. Reports what it found — the task's state (Running: its revert is
# under way) and the marker a run left, with the Sddl of the marker and its folder — so the controller can
# tell a revert that fired before the confirm from one that never ran.
param(
    [string]$TaskName = 'ipsec-remote-revert'
)
$ErrorActionPreference = 'Stop'
$dir = $env:ProgramData + '\ipsec-remote'
$dataPath = $dir + '\' + $TaskName + '.txt'
$markerPath = $dir + '\' + $TaskName + '.done'
$state = ''
$lastResult = $null
$removed = $false
try {
    $task = Get-ScheduledTask -TaskName $TaskName -TaskPath '\ipsec-remote\' -ErrorAction SilentlyContinue
    if ($null -ne $task) {
        $state = [string]$task.State
        $info = Get-ScheduledTaskInfo -TaskName $TaskName -TaskPath '\ipsec-remote\' -ErrorAction Stop
        $lastResult = [int64]$info.LastTaskResult
        Unregister-ScheduledTask -TaskName $TaskName -TaskPath '\ipsec-remote\' -Confirm:$false -ErrorAction Stop
        $removed = $true
    }
} catch {
    throw ('disarm ' + $TaskName + ': ' + $_.Exception.Message)
}
$folderSddl = ''
$text = ''
$markerSddl = ''
try {
    if (Test-Path -LiteralPath $dir -PathType Container) {
        $folderSddl = (Get-Acl -LiteralPath $dir).Sddl
        if (Test-Path -LiteralPath $markerPath -PathType Leaf) {
            $text = (@(Get-Content -LiteralPath $markerPath) -join "`n")
            $markerSddl = (Get-Acl -LiteralPath $markerPath).Sddl
        }
        if ($state -ne 'Running') {  # a running revert still needs its data; the next arm clears both
            foreach ($f in @($dataPath, $markerPath)) {
                if (Test-Path -LiteralPath $f -PathType Leaf) { Remove-Item -LiteralPath $f -Force }
            }
        }
    }
} catch { }  # the task is gone; leftovers are removed by the next arm
[pscustomobject]@{
    TaskName       = $TaskName
    TaskRemoved    = $removed
    State          = $state
    LastTaskResult = $lastResult
    HostNow        = (Get-Date).ToString('o')
    Marker         = $text
    MarkerSddl     = $markerSddl
    FolderSddl     = $folderSddl
}
