using System;
using System.Collections.Generic;
using System.Threading;

namespace M3ter.Auth;

/// <summary>
/// Options of <c>AddM3terAuthTenants</c>: how many tenants are held and for how long, and the token settings every
/// tenant shares (the credentials and hosts come from the <see cref="IM3terCredentialSource"/>, per tenant).
/// </summary>
/// <remarks>Bound from the configuration section <c>M3ter:Tenants</c>, then by the delegate passed in. Read once, when the tenant provider is created.</remarks>
public sealed class M3terTenantOptions : Internal.ITokenSettings
{
    /// <summary>The name of the configuration section that <c>AddM3terAuthTenants</c> binds.</summary>
    public const string ConfigurationSectionName = "M3ter:Tenants";

    private int _maxTenants = 1_000;
    private TimeSpan _idleTimeout = TimeSpan.FromMinutes(30);
    private TimeSpan _unknownTenantCacheDuration = TimeSpan.FromSeconds(10);
    private TimeSpan _refreshBeforeExpiry = TimeSpan.FromMinutes(5);
    private TimeSpan _tokenRequestTimeout = TimeSpan.FromSeconds(10);
    private int _maxRetryAttempts = 3;
    private TimeSpan _retryDelay = TimeSpan.FromSeconds(1);
    private TimeSpan _rejectedCredentialsCacheDuration = TimeSpan.FromSeconds(30);

    /// <summary>Gets or sets how many tenants are held at most (credentials, token and timers); the least recently used one is dropped to make room.</summary>
    /// <value>Defaults to 1,000. At least 1.</value>
    public int MaxTenants
    {
        get => _maxTenants;
        set => _maxTenants = Set(nameof(MaxTenants), value);
    }

    /// <summary>Gets or sets how long a tenant may go unused before it is dropped (its timers stop; its next use looks it up again).</summary>
    /// <value>Defaults to 30 minutes; <see cref="Timeout.InfiniteTimeSpan"/> keeps tenants until <see cref="MaxTenants"/> pushes them out. Checked every thirtieth of it (at least every second, at most every minute).</value>
    public TimeSpan IdleTimeout
    {
        get => _idleTimeout;
        set => _idleTimeout = Set(nameof(IdleTimeout), value);
    }

    /// <summary>Gets or sets how long a tenant the source did not know (it returned null) is remembered as unknown, so a burst of calls for it asks the source once.</summary>
    /// <value>Defaults to 10 seconds; zero asks the source on every call. <c>Forget</c> drops it at once.</value>
    public TimeSpan UnknownTenantCacheDuration
    {
        get => _unknownTenantCacheDuration;
        set => _unknownTenantCacheDuration = Set(nameof(UnknownTenantCacheDuration), value);
    }

    /// <summary>Gets or sets how long before a tenant's token expires the next one is fetched in the background.</summary>
    /// <value>Defaults to 5 minutes, as <see cref="M3terAuthOptions.RefreshBeforeExpiry"/>.</value>
    public TimeSpan RefreshBeforeExpiry
    {
        get => _refreshBeforeExpiry;
        set => _refreshBeforeExpiry = Set(nameof(RefreshBeforeExpiry), value);
    }

    /// <summary>Gets or sets the time one attempt at a tenant's token endpoint may take.</summary>
    /// <value>Defaults to 10 seconds; 10 milliseconds to a day, as <see cref="M3terAuthOptions.TokenRequestTimeout"/>.</value>
    public TimeSpan TokenRequestTimeout
    {
        get => _tokenRequestTimeout;
        set => _tokenRequestTimeout = Set(nameof(TokenRequestTimeout), value);
    }

    /// <summary>Gets or sets how many times a token request that failed transiently is retried.</summary>
    /// <value>Defaults to 3; 0 to 10, as <see cref="M3terAuthOptions.MaxRetryAttempts"/>.</value>
    public int MaxRetryAttempts
    {
        get => _maxRetryAttempts;
        set => _maxRetryAttempts = Set(nameof(MaxRetryAttempts), value);
    }

    /// <summary>Gets or sets the base delay of the back-off between token request retries.</summary>
    /// <value>Defaults to 1 second; zero to one minute, as <see cref="M3terAuthOptions.RetryDelay"/>.</value>
    public TimeSpan RetryDelay
    {
        get => _retryDelay;
        set => _retryDelay = Set(nameof(RetryDelay), value);
    }

    /// <summary>Gets or sets how long a tenant's rejected credentials are remembered (after the source was asked again and had nothing newer).</summary>
    /// <value>Defaults to 30 seconds, as <see cref="M3terAuthOptions.RejectedCredentialsCacheDuration"/>.</value>
    public TimeSpan RejectedCredentialsCacheDuration
    {
        get => _rejectedCredentialsCacheDuration;
        set => _rejectedCredentialsCacheDuration = Set(nameof(RejectedCredentialsCacheDuration), value);
    }

    /// <summary>Problems found while reading configuration, by option name; reported by validation.</summary>
    internal Dictionary<string, string>? ConfigurationErrors { get; set; }

    /// <summary>The options one tenant's token provider runs with: these token settings and the tenant's credentials.</summary>
    internal M3terAuthOptions ToAuthOptions(M3terCredentials credentials)
    {
        var options = new M3terAuthOptions
        {
            AccessKeyId = credentials.AccessKeyId,
            ApiSecret = credentials.ApiSecret,
            OrganizationId = credentials.OrganizationId,
        };
        foreach (Internal.IOptionSetting<Internal.ITokenSettings> setting in Internal.OptionSettings.Token)
        {
            setting.Copy(this, options);
        }

        if (credentials.BaseAddress is Uri baseAddress)
        {
            options.BaseAddress = baseAddress;
        }

        if (credentials.ExplicitIngestBaseAddress is Uri ingest)
        {
            options.IngestBaseAddress = ingest;
        }

        return options;
    }

    private T Set<T>(string option, T value)
    {
        ConfigurationErrors?.Remove(option);
        return value;
    }
}
