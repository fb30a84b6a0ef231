# Reads what the planner and the doctor need, as plain objects (never raw CIM objects):
# the owned objects in the target store, and ActiveStore facts (services, firewall, merge setting,
# clock, unowned rules that could overlap our pairs).
param(
    [string]$Group = 'ipsec-remote',
    [string]$PolicyStore = 'PersistentStore'
)
$ErrorActionPreference = 'Stop'

function ConvertTo-ProposalList($set) {
    # The set's proposals: the cmdlet objects expose them as Proposal (CIM class: Proposals). How
    # Windows formats them over remoting is UNVERIFIED (netsecurity-notes §9), so read both.
    $items = $set.Proposal
    if ($null -eq $items) { $items = $set.Proposals }
    $out = @()
    foreach ($p in $items) {
        $out += [pscustomobject]@{
            Encapsulation = [string]$p.Encapsulation
            Encryption    = [string]$p.Encryption
            Hash          = [string]$p.Hash
            KeyExchange   = [string]$p.KeyExchange
            ESPHash       = [string]$p.ESPHash
            AHHash        = [string]$p.AHHash
            Machine       = [bool]$p.Machine
            Kerberos      = [bool]$p.Kerberos
            Cert          = [bool]$p.Cert
            Authority     = [string]$p.Authority
            AuthorityType = [string]$p.AuthorityType
            Signing       = [string]$p.Signing
            AuthenticationMethod = [string]$p.AuthenticationMethod
        }
    }
    $out
}

function ConvertTo-RuleRecord($rule, $store) {
    $addr = Get-NetFirewallAddressFilter -AssociatedNetIPsecRule $rule -PolicyStore $store
    $port = Get-NetFirewallPortFilter -AssociatedNetIPsecRule $rule -PolicyStore $store
    [pscustomobject]@{
        Name               = [string]$rule.Name
        DisplayName        = [string]$rule.DisplayName
        Group              = [string]$rule.Group
        Enabled            = [string]$rule.Enabled
        Mode               = [string]$rule.Mode
        InboundSecurity    = [string]$rule.InboundSecurity
        OutboundSecurity   = [string]$rule.OutboundSecurity
        KeyModule          = [string]$rule.KeyModule
        QuickModeCryptoSet = [string]$rule.QuickModeCryptoSet
        Phase1AuthSet      = [string]$rule.Phase1AuthSet
        Phase2AuthSet      = [string]$rule.Phase2AuthSet
        Profile            = [string]$rule.Profile
        PolicyStoreSource  = [string]$rule.PolicyStoreSource
        LocalAddress       = @($addr.LocalAddress)
        RemoteAddress      = @($addr.RemoteAddress)
        Protocol           = [string]$port.Protocol
        LocalPort          = @($port.LocalPort)
        RemotePort         = @($port.RemotePort)
    }
}

$rules = @()
foreach ($r in @(Get-NetIPsecRule -PolicyStore $PolicyStore | Where-Object { $_.Group -eq $Group })) {
    $rules += ConvertTo-RuleRecord $r $PolicyStore
}
$mmRules = @()
foreach ($m in @(Get-NetIPsecMainModeRule -PolicyStore $PolicyStore | Where-Object { $_.Group -eq $Group })) {
    $addr = Get-NetFirewallAddressFilter -AssociatedNetIPsecMainModeRule $m -PolicyStore $PolicyStore
    $mmRules += [pscustomobject]@{
        Name              = [string]$m.Name
        DisplayName       = [string]$m.DisplayName
        Group             = [string]$m.Group
        Enabled           = [string]$m.Enabled
        MainModeCryptoSet = [string]$m.MainModeCryptoSet
        Phase1AuthSet     = [string]$m.Phase1AuthSet
        Profile           = [string]$m.Profile
        LocalAddress      = @($addr.LocalAddress)
        RemoteAddress     = @($addr.RemoteAddress)
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
    foreach ($s in @(& $getter -PolicyStore $PolicyStore | Where-Object { $_.Group -eq $Group })) {
        $sets += [pscustomobject]@{
            Kind                       = $k.kind
            Name                       = [string]$s.Name
            DisplayName                = [string]$s.DisplayName
            Group                      = [string]$s.Group
            MaxMinutes                 = $s.MaxMinutes
            PerfectForwardSecrecyGroup = [string]$s.PerfectForwardSecrecyGroup
            Proposal                   = @(ConvertTo-ProposalList $s)
        }
    }
}

# Enforced state: Get-NetIPsecRule without -PolicyStore sees only the local store (DESIGN §3).
$unowned = @()
foreach ($r in @(Get-NetIPsecRule -PolicyStore ActiveStore | Where-Object { $_.Group -ne $Group })) {
    $unowned += ConvertTo-RuleRecord $r 'ActiveStore'
}
$services = @()
foreach ($svc in @(Get-Service -Name IKEEXT, BFE, MpsSvc, PolicyAgent, WinRM)) {
    $services += [pscustomobject]@{ Name = [string]$svc.Name; Status = [string]$svc.Status; StartType = [string]$svc.StartType }
}
$setting = Get-NetFirewallSetting -PolicyStore ActiveStore
$profiles = @()
foreach ($p in @(Get-NetFirewallProfile -PolicyStore ActiveStore)) {
    $profiles += [pscustomobject]@{
        Name                 = [string]$p.Name
        Enabled              = [string]$p.Enabled
        AllowLocalIPsecRules = [string]$p.AllowLocalIPsecRules
    }
}

[pscustomobject]@{
    Rules         = $rules
    MainModeRules = $mmRules
    Sets          = $sets
    UnownedActiveRules = $unowned
    Services      = $services
    Exemptions    = [string]$setting.Exemptions
    MaxSAIdleTimeSeconds = $setting.MaxSAIdleTimeSeconds
    Profiles      = $profiles
    UtcNow        = (Get-Date).ToUniversalTime().ToString('o')
}
