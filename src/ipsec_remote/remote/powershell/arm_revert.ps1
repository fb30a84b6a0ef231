# Arms a dead-man's switch (promote's revert, or doctor --drill's harmless copy): a one-time scheduled task
# that runs as SYSTEM at now + DelaySeconds unless disarmed first.
#
# Nothing the task runs can be blocked by an execution policy or replaced by a local user:
# - its action is powershell.exe -EncodedCommand: a command, not a script file, so no execution policy
#   applies to it (about_Execution_Policies: the policy governs script files; a Group Policy one
#   overrides -ExecutionPolicy, so -File would be blocked under AllSigned);
# - its only input, the data file, lives in a folder this script makes Administrators-owned with a DACL of
#   SYSTEM and Administrators only, inheritance off (takeown /a, icacls /reset, /inheritance:r /grant:r:
#   learn.microsoft.com/windows-server/administration/windows-commands/takeown and .../icacls), and the
#   task checks its SHA256 against the digest carried in the command itself before using it.
# A folder found in any other state (a local user may have created it: ProgramData lets users create
# folders) is taken over and emptied; this task's old data and marker are always removed before writing.
# Principal SYSTEM with -LogonType ServiceAccount (TASK_LOGON_SERVICE_ACCOUNT); settings: start when
# available, start and keep running on batteries, at most TimeLimitMinutes (New-ScheduledTaskSettingsSet).
param(
    [string]$TaskName,
    [string]$Data = '',
    [string]$Digest,
    [string]$EncodedCommand,
    [int]$DelaySeconds = 120,
    [int]$TimeLimitMinutes = 10
)
$ErrorActionPreference = 'Stop'

function Test-AdminOnly([string]$Sddl) {
    # Security Descriptor String Format: O:owner G:group D:flags(ace)(ace)... S:...; ACE strings are
    # type;flags;rights;;;sid. Trusted: owned by SYSTEM (SY) or Administrators (BA), DACL protected (P), and
    # no allow ACE for anyone else (learn.microsoft.com/windows/win32/secauthz/security-descriptor-string-format).
    if (-not ($Sddl.StartsWith('O:SY') -or $Sddl.StartsWith('O:BA'))) { return $false }
    $d = $Sddl.IndexOf('D:')
    if ($d -lt 0) { return $false }
    $dacl = $Sddl.Substring($d + 2)
    $s = $dacl.IndexOf('S:')
    if ($s -ge 0) { $dacl = $dacl.Substring(0, $s) }
    $open = $dacl.IndexOf('(')
    if ($open -lt 0) { return $false }
    if (-not $dacl.Substring(0, $open).Contains('P')) { return $false }
    foreach ($ace in $dacl.Substring($open).Split(')')) {
        if ($ace -eq '') { continue }
        $f = $ace.TrimStart('(').Split(';')
        if ($f.Count -lt 6) { return $false }
        if ($f[0] -ne 'D' -and $f[5] -ne 'SY' -and $f[5] -ne 'BA') { return $false }
    }
    return $true
}

function Invoke-Tool([string]$What, [string[]]$Arguments) {
    if ($What -eq 'takeown') { $out = & takeown.exe $Arguments } else { $out = & icacls.exe $Arguments }
    if ($LASTEXITCODE -ne 0) { throw ($What + ' failed (' + $LASTEXITCODE + '): ' + (@($out) -join ' ')) }
}

if ($TaskName -notmatch '^[A-Za-z0-9-]+$') { throw 'TaskName must be letters, digits and dashes' }
if ($Digest -notmatch '^[0-9A-F]{64}$') { throw 'Digest must be a SHA256 in upper-case hex' }
if ($EncodedCommand -notmatch '^[A-Za-z0-9+/=]+$') { throw 'EncodedCommand must be base-64' }
$step = 'folder'
try {
    $dir = $env:ProgramData + '\ipsec-remote'
    $trusted = $false
    if (Test-Path -LiteralPath $dir -PathType Container) {
        $trusted = Test-AdminOnly ((Get-Acl -LiteralPath $dir).Sddl)
    } else {
        New-Item -Path $dir -ItemType Directory | Out-Null
    }
    if (-not $trusted) {
        Invoke-Tool 'takeown' @('/F', $dir, '/A', '/R', '/D', 'Y')
        Invoke-Tool 'icacls' @($dir, '/reset', '/T', '/C', '/Q')
        Invoke-Tool 'icacls' @($dir, '/inheritance:r', '/grant:r', '*S-1-5-18:(OI)(CI)F', '*S-1-5-32-544:(OI)(CI)F', '/Q')
        # Whatever was in it was writable by others: none of it is kept.
        foreach ($item in @(Get-ChildItem -LiteralPath $dir -Force)) {
            Remove-Item -LiteralPath $item.FullName -Recurse -Force
        }
    }
    $sddl = (Get-Acl -LiteralPath $dir).Sddl
    if (-not (Test-AdminOnly $sddl)) { throw ('the folder is not SYSTEM/Administrators-only: ' + $sddl) }

    $step = 'data'
    $dataPath = $dir + '\' + $TaskName + '.txt'
    $markerPath = $dir + '\' + $TaskName + '.done'
    foreach ($old in @($dataPath, $markerPath)) {
        if (Test-Path -LiteralPath $old) { Remove-Item -LiteralPath $old -Force }
    }
    Set-Content -LiteralPath $dataPath -Value $Data -NoNewline -Encoding Ascii
    if ((Get-FileHash -LiteralPath $dataPath -Algorithm SHA256).Hash -ne $Digest) { throw 'the data file does not match its digest' }

    $step = 'task'
    $now = Get-Date
    $at = $now.AddSeconds($DelaySeconds)
    $exe = $env:SystemRoot + '\System32\WindowsPowerShell\v1.0\powershell.exe'
    $action = New-ScheduledTaskAction -Execute $exe -Argument ('-NoProfile -NonInteractive -WindowStyle Hidden -EncodedCommand ' + $EncodedCommand)
    $trigger = New-ScheduledTaskTrigger -Once -At $at
    $principal = New-ScheduledTaskPrincipal -UserId 'SYSTEM' -LogonType ServiceAccount -RunLevel Highest
    $settings = New-ScheduledTaskSettingsSet -StartWhenAvailable -AllowStartIfOnBatteries -DontStopIfGoingOnBatteries -ExecutionTimeLimit (New-TimeSpan -Minutes $TimeLimitMinutes) -MultipleInstances IgnoreNew
    Register-ScheduledTask -TaskName $TaskName -TaskPath '\ipsec-remote\' -Action $action -Trigger $trigger -Principal $principal -Settings $settings -Description 'ipsec-remote dead-man''s switch' -Force | Out-Null

    [pscustomobject]@{
        TaskName      = $TaskName
        HostNow       = $now.ToString('o')
        Deadline      = $at.ToString('o')
        DeadlineUtc   = $at.ToUniversalTime().ToString('o')
        FolderSddl    = $sddl
        TookOver      = (-not $trusted)
        MachinePolicy = [string](Get-ExecutionPolicy -Scope MachinePolicy)
        Effective     = [string](Get-ExecutionPolicy)
    }
} catch {
    throw ('arm ' + $TaskName + ' (' + $step + '): ' + $_.Exception.Message)
}
