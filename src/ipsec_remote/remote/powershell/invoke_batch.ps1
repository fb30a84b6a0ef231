# Runs a validated list of NetSecurity cmdlet calls in one round trip, stopping at the first error.
# The calls arrive as data (-Calls), never as script text: each is
#   @{ cmdlet = 'New-NetIPsecRule'; params = @{ ... }; nested = @{ Proposal = @( @{ cmdlet = ...; params = @{...} } ) } }
# Only the cmdlets below may run; nested calls may only build proposals.
# With -Guard, the calls run only if the owned objects in the store are exactly -ExpectOwned (the names the
# controller planned from): a plan is refused when the host changed since it was read; and none of
# -Absent ('Noun|Name' of objects the calls create) may exist outside our group (a name clash). Objects are
# told apart through their CIM properties RuleGroup and InstanceID (wfascimprov class pages), not the
# undocumented cmdlet-style aliases Group/Name.
# With -Preflight (a fresh host's exemptions, sent in apply's read pipeline before the controller has the
# doctor's verdict): the calls run only if none of the doctor's error findings (ops/doctor.py _host_findings,
# the one source of the findings and their messages) can hold here — this gate is at least as strict:
# IKEEXT missing or Disabled; BFE or MpsSvc not Running; an ActiveStore profile with AllowLocalIPsecRules
# False (GpoBoolean 0) when -PolicyStore is PersistentStore; the clock more than -AheadSeconds ahead of or
# -BehindSeconds behind -ControllerUtc (the controller's UTC time when it sent this pipeline); event 5453 in
# the last -EventSeconds while IKEEXT is not Running. What it cannot read refuses too. Properties used:
# ServiceController .Status/.StartType, MSFT_NetFirewallProfile.AllowLocalIPsecRules, Get-WinEvent
# -FilterHashtable (which reports "no events" as an error), Get-Date .ToUniversalTime().
# With -GpoSession (GPO mode, on the writer): the calls edit a session of the GPO -PolicyStore names
# (Open-NetGPO; -GPOSession instead of -PolicyStore on each call) and one Save-NetGPO writes them all at the
# end, only if every call succeeded: a failure leaves the GPO as it was (Open-NetGPO / Save-NetGPO docs).
# NetSecurity cmdlets are CDXML functions: they ignore a script-scope $ErrorActionPreference (PowerShell
# issues 4568, 24389), so every call gets -ErrorAction Stop or a provider error would pass as success.
param(
    [object[]]$Calls = @(),
    [switch]$Guard,
    [string]$Group = '',
    [string]$PolicyStore = 'PersistentStore',
    [string[]]$ExpectOwned = @(),
    [string[]]$Absent = @(),
    [switch]$Preflight,
    [string]$ControllerUtc = '',
    [double]$AheadSeconds = 300,
    [double]$BehindSeconds = 300,
    [int]$EventSeconds = 3600,
    [switch]$GpoSession
)
$ErrorActionPreference = 'Stop'

if ($Preflight) {
    $why = @()
    try {
        $ike = Get-Service -Name IKEEXT -ErrorAction SilentlyContinue
        if ($null -eq $ike -or [string]$ike.StartType -eq 'Disabled') { $why += 'IKEEXT is missing or Disabled' }
        foreach ($name in @('BFE', 'MpsSvc')) {
            $svc = Get-Service -Name $name -ErrorAction SilentlyContinue
            if ($null -eq $svc -or [string]$svc.Status -ne 'Running') { $why += "$name is not Running" }
        }
        if ($PolicyStore -eq 'PersistentStore') {
            foreach ($p in @(Get-NetFirewallProfile -PolicyStore ActiveStore -ErrorAction Stop)) {
                $allow = [string]$p.PSBase.CimInstanceProperties['AllowLocalIPsecRules'].Value
                if ($allow -eq '0' -or $allow -eq 'False') { $why += 'a profile has AllowLocalIPsecRules False' }
            }
        }
        # A string with a Z designator casts to a Local DateTime: ToUniversalTime brings both to UTC.
        $offset = ((Get-Date).ToUniversalTime() - ([datetime]$ControllerUtc).ToUniversalTime()).TotalSeconds
        if ($offset -gt $AheadSeconds -or $offset -lt (0 - $BehindSeconds)) { $why += "the clock is $offset s off the controller's" }
        if ($null -eq $ike -or [string]$ike.Status -ne 'Running') {
            try {
                $since = (Get-Date).AddSeconds(0 - $EventSeconds)
                $seen = @(Get-WinEvent -FilterHashtable @{ LogName = 'Security'; Id = 5453; StartTime = $since } -MaxEvents 1 -ErrorAction Stop)
                if ($seen.Count -gt 0) { $why += 'event 5453 while IKEEXT is not Running' }
            } catch {
                if ($_.FullyQualifiedErrorId -notlike 'NoMatchingEventsFound*') { throw }
            }
        }
    } catch {
        $why += ('the checks could not run: ' + $_.Exception.Message)
    }
    if ($why.Count -gt 0) {
        [pscustomobject]@{ index = -1; cmdlet = 'precondition'; ok = $false; error = ('preflight: ' + ($why -join '; ')); error_id = 'Preflight' }
        return
    }
}

if ($Guard) {
    $owned = @()
    $getters = @('Get-NetIPsecRule', 'Get-NetIPsecMainModeRule', 'Get-NetIPsecMainModeCryptoSet',
                 'Get-NetIPsecQuickModeCryptoSet', 'Get-NetIPsecPhase1AuthSet')
    foreach ($getter in $getters) {
        foreach ($o in @(& $getter -PolicyStore $PolicyStore -ErrorAction Stop)) {
            $props = $o.PSBase.CimInstanceProperties
            if ([string]$props['RuleGroup'].Value -eq $Group) { $owned += [string]$props['InstanceID'].Value }
        }
    }
    $moved = @($owned | Where-Object { $ExpectOwned -notcontains $_ }) + @($ExpectOwned | Where-Object { $owned -notcontains $_ })
    if ($moved.Count -gt 0) {
        [pscustomobject]@{ index = -1; cmdlet = 'precondition'; ok = $false; error = ('the host changed since it was read: ' + ($moved -join ', ')); error_id = 'StateMoved' }
        return
    }
    if ($Absent.Count -gt 0) {
        $taken = @()
        foreach ($pair in @(@('NetIPsecRule', 'Get-NetIPsecRule'), @('NetIPsecMainModeRule', 'Get-NetIPsecMainModeRule'),
                @('NetIPsecMainModeCryptoSet', 'Get-NetIPsecMainModeCryptoSet'), @('NetIPsecQuickModeCryptoSet', 'Get-NetIPsecQuickModeCryptoSet'),
                @('NetIPsecPhase1AuthSet', 'Get-NetIPsecPhase1AuthSet'))) {
            $getter = $pair[1]
            foreach ($o in @(& $getter -PolicyStore $PolicyStore -ErrorAction Stop)) {
                $props = $o.PSBase.CimInstanceProperties
                if ([string]$props['RuleGroup'].Value -eq $Group) { continue }
                $key = $pair[0] + '|' + [string]$props['InstanceID'].Value
                if ($Absent -contains $key) { $taken += $key }
            }
        }
        if ($taken.Count -gt 0) {
            [pscustomobject]@{ index = -1; cmdlet = 'precondition'; ok = $false; error = ('names already used outside the group: ' + ($taken -join ', ')); error_id = 'NameClash' }
            return
        }
    }
}

$allowed = @(
    'New-NetIPsecRule', 'Set-NetIPsecRule', 'Remove-NetIPsecRule',
    'New-NetIPsecMainModeRule', 'Set-NetIPsecMainModeRule', 'Remove-NetIPsecMainModeRule',
    'New-NetIPsecMainModeCryptoSet', 'Set-NetIPsecMainModeCryptoSet', 'Remove-NetIPsecMainModeCryptoSet',
    'New-NetIPsecQuickModeCryptoSet', 'Set-NetIPsecQuickModeCryptoSet', 'Remove-NetIPsecQuickModeCryptoSet',
    'New-NetIPsecPhase1AuthSet', 'Set-NetIPsecPhase1AuthSet', 'Remove-NetIPsecPhase1AuthSet',
    'New-NetIPsecPhase2AuthSet', 'Set-NetIPsecPhase2AuthSet', 'Remove-NetIPsecPhase2AuthSet',
    'Set-NetFirewallSetting'
)
$proposalCmdlets = @('New-NetIPsecMainModeCryptoProposal', 'New-NetIPsecQuickModeCryptoProposal', 'New-NetIPsecAuthProposal')
# A selector-less Remove-* removes every object in the store (Remove-NetIPsecRule doc, example 1).
$selectors = @('Name', 'IPsecRuleName')

$session = $null
if ($GpoSession) {
    try {
        $session = Open-NetGPO -PolicyStore $PolicyStore -ErrorAction Stop
    } catch {
        [pscustomobject]@{ index = -1; cmdlet = 'Open-NetGPO'; ok = $false; error = $_.Exception.Message; error_id = 'GpoOpen' }
        return
    }
}

$index = 0
$failed = $false
foreach ($call in $Calls) {
    $name = [string]$call.cmdlet
    $ok = $false
    $message = $null
    $errorId = $null
    try {
        if ($allowed -notcontains $name) {
            throw "cmdlet '$name' is not on the allow-list"
        }
        $splat = @{}
        foreach ($key in $call.params.Keys) {
            if ($GpoSession -and $key -eq 'PolicyStore') { continue }
            $splat[$key] = $call.params[$key]
        }
        if ($GpoSession) { $splat['GPOSession'] = $session }
        $splat['ErrorAction'] = 'Stop'
        if ($name -like 'Remove-*') {
            $hasSelector = $false
            foreach ($s in $selectors) {
                if ($splat.ContainsKey($s) -and $splat[$s]) { $hasSelector = $true }
            }
            if (-not $hasSelector) { throw "refusing $name without a -Name/-IPsecRuleName selector" }
        }
        if ($null -ne $call.nested) {
            foreach ($key in $call.nested.Keys) {
                $built = @()
                foreach ($inner in $call.nested[$key]) {
                    $innerName = [string]$inner.cmdlet
                    if ($proposalCmdlets -notcontains $innerName) {
                        throw "nested cmdlet '$innerName' is not a proposal cmdlet"
                    }
                    $innerParams = @{}
                    foreach ($innerKey in $inner.params.Keys) { $innerParams[$innerKey] = $inner.params[$innerKey] }
                    $innerParams['ErrorAction'] = 'Stop'
                    $built += (& $innerName @innerParams)
                }
                $splat[$key] = $built
            }
        }
        & $name @splat | Out-Null
        $ok = $true
    } catch {
        $message = $_.Exception.Message
        $errorId = $_.FullyQualifiedErrorId
    }
    [pscustomobject]@{ index = $index; cmdlet = $name; ok = $ok; error = $message; error_id = $errorId }
    if (-not $ok) { $failed = $true; break }
    $index = $index + 1
}
if ($GpoSession -and -not $failed) {
    $saved = $false
    $message = $null
    try {
        Save-NetGPO -GPOSession $session -ErrorAction Stop
        $saved = $true
    } catch {
        $message = $_.Exception.Message
    }
    [pscustomobject]@{ index = $index; cmdlet = 'Save-NetGPO'; ok = $saved; error = $message; error_id = $null }
}
