namespace M3ter.Auth.Testing;

/// <summary>The kinds of fault an <see cref="M3terFault"/> injects.</summary>
public enum M3terFaultKind
{
    /// <summary>A response with a chosen status, headers and body instead of a token.</summary>
    Response,

    /// <summary>A delay before the normal answer.</summary>
    Delay,

    /// <summary>The connection is dropped before any response.</summary>
    Reset,

    /// <summary>The connection is dropped halfway through the body.</summary>
    ResetMidResponse,
}
