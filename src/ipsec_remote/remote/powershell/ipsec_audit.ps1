# The advanced audit policy of the IPsec subcategories, through auditpol.exe by GUID: subcategory names are
# localized, GUIDs are not (netsecurity-notes §5). -Set applies each @{Guid; Success; Failure} ('enable' or
# 'disable'; empty leaves that flag as it is - auditpol-set.md), stopping at the first failure; then -Read
# reads subcategories back with 'auditpol /get /subcategory:{GUID},... /r' (CSV: machine name, policy target,
# subcategory, subcategory GUID, inclusion setting, exclusion setting - auditpol-get.md). The lines go back
# as they are: the controller parses them. Never throws: an auditpol that cannot run is reported in Error,
# so a statement riding in another script's pipeline cannot fail that pipeline.
param(
    [string[]]$Read = @(),
    [object[]]$Set = @()
)
$ErrorActionPreference = 'Stop'
$guidPattern = '^\{[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\}$'
$flagPattern = '^(enable|disable)?$'
$applied = @()
$lines = @()
$readCode = $null
$failure = $null
try {
    foreach ($item in $Set) {
        $guid = [string]$item.Guid
        $success = [string]$item.Success
        $fail = [string]$item.Failure
        if ($guid -notmatch $guidPattern -or $success -notmatch $flagPattern -or $fail -notmatch $flagPattern) {
            throw "invalid audit setting: '$guid' success '$success' failure '$fail'"
        }
        $argv = @('/set', ('/subcategory:' + $guid))
        if ($success -ne '') { $argv += ('/success:' + $success) }
        if ($fail -ne '') { $argv += ('/failure:' + $fail) }
        $out = @(auditpol.exe $argv)
        $code = [int]$LASTEXITCODE
        $applied += [pscustomobject]@{ Guid = $guid; ExitCode = $code; Output = (@($out | ForEach-Object { [string]$_ }) -join ' ').Trim() }
        if ($code -ne 0) { break }
    }
    if ($Read.Count -gt 0) {
        foreach ($g in $Read) {
            if ($g -notmatch $guidPattern) { throw "not a subcategory GUID: '$g'" }
        }
        $lines = @(auditpol.exe /get ('/subcategory:' + ($Read -join ',')) /r | ForEach-Object { [string]$_ })
        $readCode = [int]$LASTEXITCODE
    }
} catch {
    $failure = $_.Exception.Message
}
[pscustomobject]@{
    AuditPolicy  = $lines
    ReadExitCode = $readCode
    Applied      = $applied
    Error        = $failure
}
