namespace M3ter.Auth.Tool;

/// <summary>What m3ter-auth's exit code says, so a script can tell why it failed without reading the message.</summary>
internal static class ExitCodes
{
    /// <summary>It worked.</summary>
    public const int Ok = 0;

    /// <summary>Something this list does not name went wrong; the message says what.</summary>
    public const int Failed = 1;

    /// <summary>Bad configuration or arguments: a missing key or secret, an address that is not one, an unknown flag.</summary>
    public const int BadConfiguration = 2;

    /// <summary>m3ter refused the credentials (400, 401 or 403 from the token endpoint), or the pre-issued token has expired.</summary>
    public const int CredentialsRefused = 3;

    /// <summary>The token endpoint could not be reached or did not answer in time.</summary>
    public const int Unreachable = 4;

    /// <summary>The token endpoint answered, but with an error that is not a refusal (5xx, 429) or with something that is not a token.</summary>
    public const int EndpointFailed = 5;

    /// <summary>Stopped by Ctrl+C before it finished.</summary>
    public const int Cancelled = 130;
}
