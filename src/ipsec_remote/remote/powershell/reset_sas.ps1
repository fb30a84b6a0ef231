# Deletes this host's main-mode SAs with the given peers (their quick-mode SAs go with them), so the
# next traffic negotiates under the policy in force now. Without it, SAs negotiated before a promotion
# would "prove" a pair whose renegotiation fails (e.g. Kerberos no longer reaching a DC).
param(
    [string[]]$Peers = @()
)
$ErrorActionPreference = 'Stop'
$removed = 0
foreach ($sa in @(Get-NetIPsecMainModeSA)) {
    if ($Peers -contains [string]$sa.RemoteEndpoint) {
        Remove-NetIPsecMainModeSA -Name ([string]$sa.Name)
        $removed = $removed + 1
    }
}
[pscustomobject]@{ Removed = $removed }
