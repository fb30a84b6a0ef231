# The dead-man's switch's action. Two callers:
# - its scheduled task, as SYSTEM: the task's command is this text wrapped as
#   & { <this text> } -TaskName <name> -ExpectedDigest <SHA256> (powershell.exe -EncodedCommand, so no
#   execution policy applies). It restores each rule of the armed data file — used only if its SHA256 is the
#   digest the task was armed with — then writes its marker, removes the data file, and removes its own task
#   last (so nothing before it is lost if removing a running task stops it);
# - the controller, when a wave fails and the host still answers: -Lines (the same rule data) restores at
#   once; the task is removed only if every rule was restored, so it stays armed as a fallback otherwise.
#   It reports the marker found beforehand: a revert that had already fired.
# Data lines: IPsecRuleName|InboundSecurity|OutboundSecurity|PolicyStore, each field percent-encoded UTF-8
# (decoded with [uri]::UnescapeDataString), so the file is plain ASCII whatever the names hold.
# GPO mode's line is the single word gpupdate-computer: a computer-policy refresh (gpupdate
# /target:computer /force, learn.microsoft.com/windows-server/administration/windows-commands/gpupdate),
# which brings back whatever the GPO holds now; SYSTEM needs no domain rights for it.
param(
    [string]$TaskName = 'ipsec-remote-revert',
    [string]$ExpectedDigest = '',
    [string[]]$Lines = @()
)
$ErrorActionPreference = 'Stop'
$dir = $env:ProgramData + '\ipsec-remote'
$dataPath = $dir + '\' + $TaskName + '.txt'
$markerPath = $dir + '\' + $TaskName + '.done'
$fromTask = $ExpectedDigest -ne ''
$status = 'ok'
$restored = 0
$failed = @()
$before = ''
$beforeSddl = ''
$folderSddl = ''
if (-not $fromTask) {
    try {
        if (Test-Path -LiteralPath $dir -PathType Container) { $folderSddl = (Get-Acl -LiteralPath $dir).Sddl }
        if (Test-Path -LiteralPath $markerPath -PathType Leaf) {
            $before = (@(Get-Content -LiteralPath $markerPath) -join "`n")
            $beforeSddl = (Get-Acl -LiteralPath $markerPath).Sddl
        }
    } catch { $before = '' }
}
if ($fromTask) {
    try {
        if (-not (Test-Path -LiteralPath $dataPath -PathType Leaf)) {
            $status = 'no-data'
        } elseif ((Get-FileHash -LiteralPath $dataPath -Algorithm SHA256).Hash -ne $ExpectedDigest) {
            $status = 'digest-mismatch'
        } else {
            $Lines = @(Get-Content -LiteralPath $dataPath)
        }
    } catch {
        $status = 'unreadable'
    }
}
if ($status -eq 'ok') {
    foreach ($line in $Lines) {
        $parts = ([string]$line).Split('|')
        if ($parts.Count -eq 1 -and $parts[0] -eq 'gpupdate-computer') {
            try {
                $null = @(& gpupdate.exe /target:computer /force)
                if ($LASTEXITCODE -eq 0) { $restored = $restored + 1 } else { $failed += $parts[0] }
            } catch {
                $failed += $parts[0]
            }
            continue
        }
        if ($parts.Count -ne 4) { continue }
        $name = [uri]::UnescapeDataString($parts[0])
        try {
            Set-NetIPsecRule -IPsecRuleName $name -InboundSecurity ([uri]::UnescapeDataString($parts[1])) -OutboundSecurity ([uri]::UnescapeDataString($parts[2])) -PolicyStore ([uri]::UnescapeDataString($parts[3])) -ErrorAction Stop
            $restored = $restored + 1
        } catch {
            $failed += $parts[0]  # still encoded: the marker stays one field per line
        }
    }
    if ($failed.Count -gt 0) { $status = 'partial' }
}
if ($fromTask) {
    $user = ''
    try { $user = [string](whoami.exe /user /fo csv /nh) } catch { $user = '' }
    try {
        Set-Content -LiteralPath $markerPath -Encoding Ascii -Value @(
            ('ran=' + (Get-Date).ToUniversalTime().ToString('o')), ('status=' + $status),
            ('restored=' + $restored), ('failed=' + ($failed -join ',')), ('user=' + $user))
    } catch { }
}
$removed = $false
if ($fromTask -or $status -eq 'ok') {
    try {
        if (($status -eq 'ok' -or $status -eq 'partial') -and (Test-Path -LiteralPath $dataPath -PathType Leaf)) {
            Remove-Item -LiteralPath $dataPath -Force
        }
        $task = Get-ScheduledTask -TaskName $TaskName -TaskPath '\ipsec-remote\' -ErrorAction SilentlyContinue
        if ($null -ne $task) {
            Unregister-ScheduledTask -TaskName $TaskName -TaskPath '\ipsec-remote\' -Confirm:$false -ErrorAction Stop
            $removed = $true
        }
    } catch { }
}
[pscustomobject]@{
    Status       = $status
    Restored     = $restored
    Failed       = @($failed)
    TaskRemoved  = $removed
    MarkerBefore = $before
    MarkerSddl   = $beforeSddl
    FolderSddl   = $folderSddl
}
