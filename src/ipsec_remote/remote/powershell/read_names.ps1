# Runs in the read pipeline, after read_state: the names in the target store that are NOT ours (a New-*
# with one of them fails "already exists", so the controller refuses before any change), and the
# Description of our connection security rules (promote records the promotion there, so the journal can
# be rebuilt from the hosts). Names are unique per object class within a policy store.
param(
    [string]$Group = 'ipsec-remote',
    [string]$PolicyStore = 'PersistentStore'
)
$ErrorActionPreference = 'Stop'

$unowned = @()
$marks = @()
foreach ($r in @(Get-NetIPsecRule -PolicyStore $PolicyStore -ErrorAction Stop)) {
    if ([string]$r.Group -eq $Group) {
        $marks += [pscustomobject]@{ Name = [string]$r.Name; Description = [string]$r.Description }
    } else {
        $unowned += [pscustomobject]@{ Noun = 'NetIPsecRule'; Name = [string]$r.Name; Group = [string]$r.Group }
    }
}
$nouns = @(
    @{ noun = 'NetIPsecMainModeRule'; cmd = 'Get-NetIPsecMainModeRule' },
    @{ noun = 'NetIPsecMainModeCryptoSet'; cmd = 'Get-NetIPsecMainModeCryptoSet' },
    @{ noun = 'NetIPsecQuickModeCryptoSet'; cmd = 'Get-NetIPsecQuickModeCryptoSet' },
    @{ noun = 'NetIPsecPhase1AuthSet'; cmd = 'Get-NetIPsecPhase1AuthSet' }
)
foreach ($n in $nouns) {
    $getter = $n.cmd
    foreach ($o in @(& $getter -PolicyStore $PolicyStore -ErrorAction Stop)) {
        if ([string]$o.Group -ne $Group) {
            $unowned += [pscustomobject]@{ Noun = $n.noun; Name = [string]$o.Name; Group = [string]$o.Group }
        }
    }
}
[pscustomobject]@{ Unowned = $unowned; Marks = $marks }
