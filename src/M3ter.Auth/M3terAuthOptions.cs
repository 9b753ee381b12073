using System;
using System.Collections.Generic;
using System.Globalization;

namespace M3ter.Auth;

/// <summary>
/// Options for m3ter Service Authentication: the service user's credentials, where m3ter lives, and how tokens are
/// refreshed and requested.
/// </summary>
/// <remarks>
/// With <c>AddM3terAuth()</c> the options are read from the environment variables <c>M3TER_API_KEY</c>,
/// <c>M3TER_API_SECRET</c>, <c>M3TER_ORG_ID</c> and <c>M3TER_BASE_URL</c>, then from the <c>M3ter</c> configuration
/// section, then from the delegate passed in; each later source wins.
/// </remarks>
public sealed class M3terAuthOptions : Internal.ITokenSettings
{
    /// <summary>The name of the configuration section that <c>AddM3terAuth()</c> binds.</summary>
    public const string ConfigurationSectionName = "M3ter";

    /// <summary>The address of m3ter's production API.</summary>
    public static readonly Uri DefaultBaseAddress = new("https://api.m3ter.com/");

    private Uri _baseAddress = DefaultBaseAddress;
    private Uri? _ingestBaseAddress;
    private bool _warmUpOnStart;
    private TimeSpan _refreshBeforeExpiry = TimeSpan.FromMinutes(5);
    private TimeSpan _tokenRequestTimeout = TimeSpan.FromSeconds(10);
    private int _maxRetryAttempts = 3;
    private TimeSpan _retryDelay = TimeSpan.FromSeconds(1);
    private TimeSpan _rejectedCredentialsCacheDuration = TimeSpan.FromSeconds(30);

    /// <summary>Gets or sets the access key id of the m3ter service user.</summary>
    /// <value>The access key id; required unless <see cref="AccessToken"/> is set. Environment variable <c>M3TER_API_KEY</c>, configuration key <c>M3ter:AccessKeyId</c>.</value>
    public string AccessKeyId { get; set; } = string.Empty;

    /// <summary>Gets or sets the API secret of the m3ter service user.</summary>
    /// <value>The secret; required unless <see cref="AccessToken"/> is set. Environment variable <c>M3TER_API_SECRET</c>, configuration key <c>M3ter:ApiSecret</c>. Never logged or shown by <see cref="ToString"/>.</value>
    public string ApiSecret { get; set; } = string.Empty;

    /// <summary>Gets or sets a pre-issued access token to use as it is, instead of fetching tokens with the key and secret.</summary>
    /// <value>
    /// None by default. Environment variable <c>M3TER_API_TOKEN</c>. When set, no token request is ever made and
    /// <see cref="AccessKeyId"/> and <see cref="ApiSecret"/> are not needed. If the token is a JWT its <c>exp</c> claim
    /// is honoured: once it has passed, requests fail with an <see cref="M3terAuthException"/> saying so instead of
    /// getting 403s from m3ter. Never logged or shown by <see cref="ToString"/>.
    /// </value>
    public string? AccessToken { get; set; }

    /// <summary>Gets or sets a value indicating whether the first token is fetched while the application starts, so the first request does not wait for it.</summary>
    /// <value>
    /// Defaults to <see langword="false"/>. Takes effect in a host (<c>IHost</c>) with <c>AddM3terAuth()</c>. The host's
    /// start waits for it at most <see cref="TokenRequestTimeout"/>; after that the application starts and the request
    /// goes on in the background. A failure is logged as a warning and does not stop the application; the first
    /// request tries again.
    /// </value>
    public bool WarmUpOnStart
    {
        get => _warmUpOnStart;
        set => _warmUpOnStart = Set(nameof(WarmUpOnStart), value);
    }

    /// <summary>Gets or sets the m3ter organization id that API paths use (<c>/organizations/{orgId}/...</c>).</summary>
    /// <value>The organization id, or <see langword="null"/> (the default). Environment variable <c>M3TER_ORG_ID</c>.</value>
    public string? OrganizationId { get; set; }

    /// <summary>Gets or sets the base address of m3ter's API; the token endpoint is this address plus <c>oauth/token</c>.</summary>
    /// <value>
    /// Defaults to <c>https://api.m3ter.com/</c>. Environment variable <c>M3TER_BASE_URL</c>. A path without a trailing
    /// slash gets one. It must not have a query string or a fragment (they would be lost from the token endpoint's address).
    /// </value>
    /// <exception cref="ArgumentNullException">The value is <see langword="null"/>.</exception>
    public Uri BaseAddress
    {
        get => _baseAddress;
        set
        {
            if (value is null)
            {
                throw new ArgumentNullException(nameof(value));
            }

            _baseAddress = Set(nameof(BaseAddress), WithTrailingSlash(value));
        }
    }

    /// <summary>Gets or sets the base address of m3ter's ingest API, which gets the same token as <see cref="BaseAddress"/>.</summary>
    /// <value>
    /// By default <see cref="BaseAddress"/> with <c>api.</c> replaced by <c>ingest.</c>, for example
    /// <c>https://ingest.m3ter.com/</c> (the same as <see cref="BaseAddress"/> when its host does not start with
    /// <c>api.</c>). Set it where that rule cannot work, as for an emulator on loopback ports. Environment variable
    /// <c>M3TER_INGEST_URL</c> (M3ter.Auth's own; the official SDKs have none). Set it to null to go back to the
    /// derived address.
    /// </value>
    public Uri IngestBaseAddress
    {
        get
        {
            return _ingestBaseAddress ?? DerivedIngestAddress(BaseAddress);
        }

        set => _ingestBaseAddress = Set(nameof(IngestBaseAddress), value is null ? null : WithTrailingSlash(value));
    }

    /// <summary>Gets or sets how long before a token expires a new one is fetched in the background.</summary>
    /// <value>
    /// Defaults to 5 minutes. For a token whose lifetime is less than twice this, the refresh starts halfway through
    /// the token's lifetime instead, so short-lived tokens are still cached.
    /// </value>
    public TimeSpan RefreshBeforeExpiry
    {
        get => _refreshBeforeExpiry;
        set => _refreshBeforeExpiry = Set(nameof(RefreshBeforeExpiry), value);
    }

    /// <summary>Gets or sets the time one attempt at the token endpoint may take before it is abandoned and retried.</summary>
    /// <value>Defaults to 10 seconds. Independent of the caller's own cancellation and timeouts.</value>
    public TimeSpan TokenRequestTimeout
    {
        get => _tokenRequestTimeout;
        set => _tokenRequestTimeout = Set(nameof(TokenRequestTimeout), value);
    }

    /// <summary>Gets or sets how many times a token request that failed transiently (network error, timeout, 408, 429, 5xx) is retried.</summary>
    /// <value>Defaults to 3. Zero turns retries off. Rejected credentials (400, 401, 403) are never retried.</value>
    public int MaxRetryAttempts
    {
        get => _maxRetryAttempts;
        set => _maxRetryAttempts = Set(nameof(MaxRetryAttempts), value);
    }

    /// <summary>Gets or sets the base delay of the jittered exponential back-off between token request retries.</summary>
    /// <value>Defaults to 1 second. A <c>Retry-After</c> header from the server takes precedence.</value>
    public TimeSpan RetryDelay
    {
        get => _retryDelay;
        set => _retryDelay = Set(nameof(RetryDelay), value);
    }

    /// <summary>Gets or sets how long a rejection of the credentials (400, 401 or 403 from the token endpoint) is remembered.</summary>
    /// <value>
    /// Defaults to 30 seconds. While it is remembered, callers get an <see cref="M3terAuthException"/> with the same
    /// message and status at once (each caller its own instance) instead of each sending a token request, so a wrong
    /// secret under heavy traffic makes a trickle of token requests, not a storm. Changing the credentials through
    /// configuration forgets it.
    /// </value>
    public TimeSpan RejectedCredentialsCacheDuration
    {
        get => _rejectedCredentialsCacheDuration;
        set => _rejectedCredentialsCacheDuration = Set(nameof(RejectedCredentialsCacheDuration), value);
    }

    /// <summary>
    /// Problems found while reading configuration, by option name; reported by validation with the setting's name.
    /// Setting the option afterwards (a later source overriding the bad value) clears its problem: only the final
    /// value is validated.
    /// </summary>
    internal Dictionary<string, string>? ConfigurationErrors { get; set; }

    /// <summary>Returns a description of the options that shows where they point but never the secret.</summary>
    /// <returns>The key id, organization and base address; the secret only as <c>***</c> (or <c>(empty)</c>).</returns>
    public override string ToString() => string.Format(
        CultureInfo.InvariantCulture,
        "M3terAuthOptions {{ AccessKeyId = {0}, ApiSecret = {1}, AccessToken = {2}, OrganizationId = {3}, BaseAddress = {4} }}",
        string.IsNullOrEmpty(AccessKeyId) ? "(empty)" : AccessKeyId,
        string.IsNullOrEmpty(ApiSecret) ? "(empty)" : "***",
        string.IsNullOrEmpty(AccessToken) ? "(none)" : "***",
        OrganizationId ?? "(none)",
        BaseAddress);

    internal M3terAuthOptions Clone()
    {
        var clone = (M3terAuthOptions)MemberwiseClone();
        clone.ConfigurationErrors = ConfigurationErrors is null ? null : new Dictionary<string, string>(ConfigurationErrors, StringComparer.Ordinal);
        return clone;
    }

    /// <summary>Whether a token obtained with <paramref name="other"/> may be used with these options: every option whose change drops the token (the server, the hosts, a pre-issued token) is the same.</summary>
    internal bool SharesTokensWith(M3terAuthOptions other) =>
        Internal.OptionSettings.AllSame(Internal.OptionSettings.Auth, this, other, Internal.ReloadEffect.DropsToken);

    /// <summary>Whether these options use the same credentials as <paramref name="other"/>: every option whose change renews the token is the same.</summary>
    internal bool HasSameCredentials(M3terAuthOptions other) =>
        Internal.OptionSettings.AllSame(Internal.OptionSettings.Auth, this, other, Internal.ReloadEffect.RenewsToken);

    private T Set<T>(string option, T value)
    {
        ConfigurationErrors?.Remove(option);
        return value;
    }

    /// <summary>Whether two option sets are the same in every option (a configuration reload that changes none of them is ignored).</summary>
    internal bool IsEquivalentTo(M3terAuthOptions other) => Internal.OptionSettings.AllSame(Internal.OptionSettings.Auth, this, other);

    /// <summary>The ingest address that goes with a base address when none is set: <c>api.</c> replaced by <c>ingest.</c> (shared with <see cref="M3terCredentials"/>).</summary>
    internal static Uri DefaultIngestAddressFor(Uri baseAddress) => DerivedIngestAddress(WithTrailingSlash(baseAddress));

    private static Uri DerivedIngestAddress(Uri api)
    {
        if (!api.IsAbsoluteUri || !api.Host.StartsWith("api.", StringComparison.OrdinalIgnoreCase))
        {
            return api;
        }

        return new UriBuilder(api) { Host = "ingest." + api.Host.Substring(4) }.Uri;
    }

    private static Uri WithTrailingSlash(Uri uri)
    {
        if (!uri.IsAbsoluteUri || uri.AbsolutePath.EndsWith("/", StringComparison.Ordinal))
        {
            return uri;
        }

        return new Uri(uri.AbsoluteUri + "/", UriKind.Absolute);
    }
}
