# The dead-man's switch itself (run by the scheduled task as SYSTEM, or by the controller at once when a
# wave fails): restores each rule's previous security settings, then removes the task and its files and
# leaves a marker so the controller can tell that the revert ran.
$ErrorActionPreference = 'Continue'
$dir = 'C:\ProgramData\ipsec-remote'
$data = $dir + '\revert.txt'
$restored = 0
if (Test-Path -Path $data) {
    foreach ($line in @(Get-Content -Path $data)) {
        $parts = ([string]$line).Split('|')
        if ($parts.Count -eq 4) {
            Set-NetIPsecRule -IPsecRuleName $parts[0] -InboundSecurity $parts[1] -OutboundSecurity $parts[2] -PolicyStore $parts[3]
            $restored = $restored + 1
        }
    }
}
$task = Get-ScheduledTask -TaskName 'ipsec-remote-revert' -TaskPath '\ipsec-remote\' -ErrorAction SilentlyContinue
if ($null -ne $task) {
    Unregister-ScheduledTask -TaskName 'ipsec-remote-revert' -TaskPath '\ipsec-remote\' -Confirm:$false
}
foreach ($f in @($data, ($dir + '\revert.ps1'))) {
    if (Test-Path -Path $f) { Remove-Item -Path $f }
}
Set-Content -Path ($dir + '\revert.done') -Value ((Get-Date).ToUniversalTime().ToString('o') + ' restored ' + $restored)
[pscustomobject]@{ Restored = $restored }
