# Runs in the read pipeline, after read_state: the names in the target store that are NOT ours (a New-*
# with one of them fails "already exists", so the controller refuses before any change), and the
# Description of our connection security rules (promote records the promotion there, so the journal can
# be rebuilt from the hosts). Names are unique per object class within a policy store.
# Objects are read through their CIM properties InstanceID, RuleGroup and Description (wfascimprov class
# pages: MSFT_NetConSecRule, MSFT_NetMainModeRule, MSFT_NetIKEMMCryptoSet, MSFT_NetIKEQMCryptoSet,
# MSFT_NetIKEP1AuthSet), not the undocumented cmdlet-style aliases Name/Group; -ErrorAction Stop on every
# NetSecurity call (CDXML functions ignore the script-scope preference).
param(
    [string]$Group = 'ipsec-remote',
    [string]$PolicyStore = 'PersistentStore'
)
$ErrorActionPreference = 'Stop'

function Get-Cim($o, [string]$Name) {
    # CimInstance.CimInstanceProperties[name] is $null for a property the class does not have.
    if ($null -eq $o) { return $null }
    $p = $o.PSBase.CimInstanceProperties[$Name]
    if ($null -eq $p) { return $null }
    return $p.Value
}

$unowned = @()
$marks = @()
foreach ($r in @(Get-NetIPsecRule -PolicyStore $PolicyStore -ErrorAction Stop)) {
    $name = [string](Get-Cim $r 'InstanceID')
    $ruleGroup = [string](Get-Cim $r 'RuleGroup')
    if ($ruleGroup -eq $Group) {
        $marks += [pscustomobject]@{ Name = $name; Description = [string](Get-Cim $r 'Description') }
    } else {
        $unowned += [pscustomobject]@{ Noun = 'NetIPsecRule'; Name = $name; Group = $ruleGroup }
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
        $ruleGroup = [string](Get-Cim $o 'RuleGroup')
        if ($ruleGroup -ne $Group) {
            $unowned += [pscustomobject]@{ Noun = $n.noun; Name = [string](Get-Cim $o 'InstanceID'); Group = $ruleGroup }
        }
    }
}
[pscustomobject]@{ Unowned = $unowned; Marks = $marks }
