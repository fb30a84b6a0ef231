# GPO mode's doctor on the writer: may this session edit the GPO? Open-NetGPO "creates a cached copy of the
# Group Policy Object (GPO) to modify locally" and errors "when the user is not a domain administrator"
# (learn.microsoft.com/powershell/module/netsecurity/open-netgpo). The session is never saved (Save-NetGPO
# writes a session back), so nothing changes.
param(
    [string]$PolicyStore
)
$ErrorActionPreference = 'Stop'
try {
    $null = Open-NetGPO -PolicyStore $PolicyStore -ErrorAction Stop
    [pscustomobject]@{ CanEdit = $true; Error = '' }
} catch {
    [pscustomobject]@{ CanEdit = $false; Error = $_.Exception.Message }
}
