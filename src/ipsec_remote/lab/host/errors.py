"""Windows-like errors raised by the lab host's cmdlets.

NetSecurity cmdlets are CDXML (CIM) cmdlets: their failures surface as ``CimException``s whose text is
the Win32 message of the provider's error code, with ``FullyQualifiedErrorId`` ``Windows System Error
<n>,<cmdlet>``; lookups that match nothing are the cmdletization adapter's ``ObjectNotFound`` error.
Where the exact text Windows prints for a case is not documented, the constant below says so.
"""

from __future__ import annotations

from ..values import ErrorRecord, PowerShellError

CIM_EXCEPTION = "Microsoft.Management.Infrastructure.CimException"

# Win32 messages (winerror.h texts) used by the CIM provider.
ERROR_ALREADY_EXISTS = (183, "Cannot create a file when that file already exists.")
ERROR_FILE_NOT_FOUND = (2, "The system cannot find the file specified.")
ERROR_INVALID_PARAMETER = (87, "The parameter is incorrect.")
ERROR_ACCESS_DENIED = (5, "Access is denied.")
ERROR_NOT_SUPPORTED = (50, "The request is not supported.")
ERROR_SHARING_VIOLATION = (32, "The process cannot access the file because it is being used by another process.")


def cim_error(
    cmdlet: str, code_text: tuple[int, str], category: str, target: object = None, detail: str | None = None
) -> PowerShellError:
    """A provider failure, non-terminating as CDXML cmdlets report them (``-ErrorAction Stop`` escalates)."""
    code, text = code_text
    message = text if detail is None else f"{text} {detail}"
    return PowerShellError(
        ErrorRecord(
            message=message,
            error_id=f"Windows System Error {code},{cmdlet}",
            category=category,
            exception_type=CIM_EXCEPTION,
            target=target,
            command=cmdlet,
        ),
        terminating=False,
    )


def not_found(cmdlet: str, cim_class: str, prop: str, value: object) -> ErrorRecord:
    """The cmdletization adapter's wording when a selector matches nothing (non-terminating)."""
    return ErrorRecord(
        message=(
            f"No {cim_class} objects found with property '{prop}' equal to '{value}'.  "
            "Verify the value of the property and retry."
        ),
        error_id=f"CmdletizationQuery_NotFound_{prop},{cmdlet}",
        category="ObjectNotFound",
        exception_type=CIM_EXCEPTION,
        target=value,
        command=cmdlet,
    )


def already_exists(cmdlet: str, name: str) -> PowerShellError:
    # Creating a second object with the same -Name/-IPsecRuleName: ERROR_ALREADY_EXISTS (183),
    # category ResourceExists, as the WFAS provider reports it for duplicate instance IDs.
    return cim_error(cmdlet, ERROR_ALREADY_EXISTS, "ResourceExists", target=name)


def missing_set(cmdlet: str, prop: str, name: str) -> PowerShellError:
    # A rule naming a set that is not in its store. UNVERIFIED text: the docs only say the set must exist
    # in the same store; the lab reports the provider's file-not-found code and names the reference.
    return cim_error(
        cmdlet, ERROR_FILE_NOT_FOUND, "ObjectNotFound", target=name,
        detail=f"({prop} '{name}' does not exist in the policy store.)",
    )


def set_in_use(cmdlet: str, name: str, rule: str) -> PowerShellError:
    # Deleting a set a rule still references. UNVERIFIED text: the lab reports a sharing violation (32)
    # naming the rule; Windows' exact code for this case is not documented.
    return cim_error(
        cmdlet, ERROR_SHARING_VIOLATION, "ResourceBusy", target=name,
        detail=f"(The set '{name}' is referenced by rule '{rule}'.)",
    )


def invalid_security_pair(cmdlet: str, inbound: str, outbound: str) -> PowerShellError:
    # Only five In/Out pairs are valid (-OutboundSecurity text of New/Set-NetIPsecRule). UNVERIFIED text:
    # the provider's generic invalid-parameter code (87) with the offending pair.
    return cim_error(
        cmdlet, ERROR_INVALID_PARAMETER, "InvalidArgument", target=f"{inbound}/{outbound}",
        detail=f"(InboundSecurity '{inbound}' with OutboundSecurity '{outbound}' is not a valid combination.)",
    )


def invalid_parameter(cmdlet: str, detail: str, target: object = None) -> PowerShellError:
    return cim_error(cmdlet, ERROR_INVALID_PARAMETER, "InvalidArgument", target=target, detail=f"({detail})")


def read_only_store(cmdlet: str, store: str) -> PowerShellError:
    # ActiveStore/RSOP are read-only views ("ActiveStore … read-only", Show-NetIPsecRule and
    # Get-NetIPsecRule -PolicyStore text). UNVERIFIED text: access denied naming the store.
    return cim_error(cmdlet, ERROR_ACCESS_DENIED, "PermissionDenied", target=store,
                     detail=f"(The policy store '{store}' is read-only.)")


def unknown_store(cmdlet: str, store: str) -> PowerShellError:
    # A -PolicyStore the host does not have (e.g. a GPO that does not exist). UNVERIFIED text.
    return cim_error(cmdlet, ERROR_FILE_NOT_FOUND, "ObjectNotFound", target=store,
                     detail=f"(Policy store '{store}' was not found.)")


def parameter_set_error(cmdlet: str) -> PowerShellError:
    """PowerShell's own binder text when no single parameter set fits the given parameters."""
    return PowerShellError(
        ErrorRecord(
            message="Parameter set cannot be resolved using the specified named parameters.",
            error_id=f"AmbiguousParameterSet,{cmdlet}",
            category="InvalidArgument",
            exception_type="System.Management.Automation.ParameterBindingException",
            command=cmdlet,
        ),
        terminating=True,
    )


def missing_mandatory(cmdlet: str, names: list[str]) -> PowerShellError:
    """PowerShell's binder text for missing mandatory parameters in a non-interactive session."""
    return PowerShellError(
        ErrorRecord(
            message=(
                "Cannot process command because of one or more missing mandatory parameters: "
                f"{' '.join(names)}."
            ),
            error_id=f"MissingMandatoryParameter,{cmdlet}",
            category="InvalidArgument",
            exception_type="System.Management.Automation.ParameterBindingException",
            command=cmdlet,
        ),
        terminating=True,
    )
