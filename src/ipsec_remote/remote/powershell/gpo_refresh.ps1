# GPO mode: a computer-policy refresh on this host, now (gpupdate waits for policy processing to finish,
# its /wait default being 600 s), so that -PolicyStore RSOP then shows what the GPO holds.
$ErrorActionPreference = 'Stop'
try {
    $lines = @(& gpupdate.exe /target:computer /force)
    [pscustomobject]@{ Refreshed = ($LASTEXITCODE -eq 0); Output = ($lines -join ' ') }
} catch {
    [pscustomobject]@{ Refreshed = $false; Output = $_.Exception.Message }
}
