namespace M3ter.Auth.Testing;

/// <summary>Which of m3ter's APIs a recorded request went to.</summary>
public enum M3terRequestKind
{
    /// <summary>The token endpoint, <c>POST /oauth/token</c>.</summary>
    Token,

    /// <summary>The config API, <c>/organizations/{orgId}/...</c>.</summary>
    Config,

    /// <summary>The ingest API, <c>POST /organizations/{orgId}/measurements</c>.</summary>
    Ingest,

    /// <summary>Anything else (answered 404).</summary>
    Other,
}
