# Reads what the planner and the doctor need, as plain objects (never raw CIM objects): the owned objects
# in the target store, and ActiveStore facts (services, firewall, merge setting, clock, unowned rules that
# could overlap our pairs).
# Every NetSecurity object is read through its documented CIM properties (WFAS provider class pages,
# learn.microsoft.com/windows/win32/fwp/wmi/wfascimprov): cmdlet-style names such as .Group, .Proposal or
# .MaxMinutes come from NetSecurity's unpublished types file and may be missing, or shadow a CIM value
# with display text. Numeric codes are mapped to names on the controller (hoststate.py).
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

function ConvertTo-ProposalRecord($p) {
    # The key of a pre-shared-key proposal is returned in clear (MSFT_NetIKEPSKAuthProposal): it never
    # leaves the host, only whether one is set.
    [pscustomobject]@{
        Class                = [string]$p.PSBase.CimSystemProperties.ClassName
        CipherAlgorithm      = Get-Cim $p 'CipherAlgorithm'
        HashAlgorithm        = Get-Cim $p 'HashAlgorithm'
        GroupId              = Get-Cim $p 'GroupId'
        Encapsulation        = Get-Cim $p 'Encapsulation'
        HashAlgorithmAH      = Get-Cim $p 'HashAlgorithmAH'
        HashAlgorithmESP     = Get-Cim $p 'HashAlgorithmESP'
        AuthenticationMethod = Get-Cim $p 'AuthenticationMethod'
        TrustedCA            = Get-Cim $p 'TrustedCA'
        TrustedCAType        = Get-Cim $p 'TrustedCAType'
        SigningAlgorithm     = Get-Cim $p 'SigningAlgorithm'
        HasPreSharedKey      = ($null -ne (Get-Cim $p 'PreSharedKey'))
    }
}

function ConvertTo-RuleRecord($rule, [string]$store) {
    # Addresses, protocol and ports are separate filter instances (MSFT_NetAddressFilter,
    # MSFT_NetProtocolPortFilter), never properties of the rule (netsecurity-notes §8).
    $addr = Get-NetFirewallAddressFilter -AssociatedNetIPsecRule $rule -PolicyStore $store -ErrorAction Stop
    $port = Get-NetFirewallPortFilter -AssociatedNetIPsecRule $rule -PolicyStore $store -ErrorAction Stop
    [pscustomobject]@{
        InstanceID         = [string](Get-Cim $rule 'InstanceID')
        DisplayName        = [string](Get-Cim $rule 'DisplayName')
        Description        = [string](Get-Cim $rule 'Description')
        RuleGroup          = [string](Get-Cim $rule 'RuleGroup')
        Enabled            = Get-Cim $rule 'Enabled'
        Mode               = Get-Cim $rule 'Mode'
        InboundSecurity    = Get-Cim $rule 'InboundSecurity'
        OutboundSecurity   = Get-Cim $rule 'OutboundSecurity'
        KeyModule          = Get-Cim $rule 'KeyModule'
        Profiles           = Get-Cim $rule 'Profiles'
        QuickModeCryptoSet = [string](Get-Cim $rule 'QuickModeCryptoSet')
        Phase1AuthSet      = [string](Get-Cim $rule 'Phase1AuthSet')
        Phase2AuthSet      = [string](Get-Cim $rule 'Phase2AuthSet')
        PolicyStoreSource  = [string](Get-Cim $rule 'PolicyStoreSource')
        LocalAddress       = @(Get-Cim $addr 'LocalAddress')
        RemoteAddress      = @(Get-Cim $addr 'RemoteAddress')
        Protocol           = [string](Get-Cim $port 'Protocol')
        LocalPort          = @(Get-Cim $port 'LocalPort')
        RemotePort         = @(Get-Cim $port 'RemotePort')
    }
}

$rules = @()
foreach ($r in @(Get-NetIPsecRule -PolicyStore $PolicyStore -ErrorAction Stop)) {
    if ((Get-Cim $r 'RuleGroup') -eq $Group) { $rules += ConvertTo-RuleRecord $r $PolicyStore }
}
$mmRules = @()
foreach ($m in @(Get-NetIPsecMainModeRule -PolicyStore $PolicyStore -ErrorAction Stop)) {
    if ((Get-Cim $m 'RuleGroup') -ne $Group) { continue }
    $addr = Get-NetFirewallAddressFilter -AssociatedNetIPsecMainModeRule $m -PolicyStore $PolicyStore -ErrorAction Stop
    $mmRules += [pscustomobject]@{
        InstanceID        = [string](Get-Cim $m 'InstanceID')
        DisplayName       = [string](Get-Cim $m 'DisplayName')
        Description       = [string](Get-Cim $m 'Description')
        RuleGroup         = [string](Get-Cim $m 'RuleGroup')
        Enabled           = Get-Cim $m 'Enabled'
        Profiles          = Get-Cim $m 'Profiles'
        MainModeCryptoSet = [string](Get-Cim $m 'MainModeCryptoSet')
        Phase1AuthSet     = [string](Get-Cim $m 'Phase1AuthSet')
        LocalAddress      = @(Get-Cim $addr 'LocalAddress')
        RemoteAddress     = @(Get-Cim $addr 'RemoteAddress')
    }
}
$sets = @()
$kinds = @(
    @{ kind = 'mm_crypto_set'; cmd = 'Get-NetIPsecMainModeCryptoSet' },
    @{ kind = 'qm_crypto_set'; cmd = 'Get-NetIPsecQuickModeCryptoSet' },
    @{ kind = 'p1_auth_set'; cmd = 'Get-NetIPsecPhase1AuthSet' }
)
foreach ($k in $kinds) {
    $getter = $k.cmd
    foreach ($s in @(& $getter -PolicyStore $PolicyStore -ErrorAction Stop)) {
        if ((Get-Cim $s 'RuleGroup') -ne $Group) { continue }
        $proposals = @()
        foreach ($p in @(Get-Cim $s 'Proposals')) { $proposals += ConvertTo-ProposalRecord $p }
        $sets += [pscustomobject]@{
            Kind               = $k.kind
            InstanceID         = [string](Get-Cim $s 'InstanceID')
            DisplayName        = [string](Get-Cim $s 'DisplayName')
            Description        = [string](Get-Cim $s 'Description')
            RuleGroup          = [string](Get-Cim $s 'RuleGroup')
            MaxLifetimeMinutes = Get-Cim $s 'MaxLifetimeMinutes'
            PfsGroupID         = Get-Cim $s 'PfsGroupID'
            Proposals          = $proposals
        }
    }
}

# Enforced state: Get-NetIPsecRule without -PolicyStore sees only the local store (DESIGN §3).
$unowned = @()
foreach ($r in @(Get-NetIPsecRule -PolicyStore ActiveStore -ErrorAction Stop)) {
    if ((Get-Cim $r 'RuleGroup') -ne $Group) { $unowned += ConvertTo-RuleRecord $r 'ActiveStore' }
}
$services = @()
foreach ($svc in @(Get-Service -Name IKEEXT, BFE, MpsSvc, PolicyAgent, WinRM)) {
    $services += [pscustomobject]@{ Name = [string]$svc.Name; Status = [string]$svc.Status; StartType = [string]$svc.StartType }
}
$setting = Get-NetFirewallSetting -PolicyStore ActiveStore -ErrorAction Stop
$profiles = @()
foreach ($p in @(Get-NetFirewallProfile -PolicyStore ActiveStore -ErrorAction Stop)) {
    $profiles += [pscustomobject]@{
        Name                 = [string](Get-Cim $p 'Name')
        Enabled              = Get-Cim $p 'Enabled'
        AllowLocalIPsecRules = Get-Cim $p 'AllowLocalIPsecRules'
    }
}

[pscustomobject]@{
    Rules                = $rules
    MainModeRules        = $mmRules
    Sets                 = $sets
    UnownedActiveRules   = $unowned
    Services             = $services
    Exemptions           = Get-Cim $setting 'Exemptions'
    MaxSAIdleTimeSeconds = Get-Cim $setting 'MaxSAIdleTimeSeconds'
    Profiles             = $profiles
    UtcNow               = (Get-Date).ToUniversalTime().ToString('o')
}
