using System;
using System.Collections.Generic;
using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace M3ter.Auth.Internal;

/// <summary>
/// Reads <see cref="M3terAuthOptions"/> from configuration and from the environment variables the official m3ter SDKs
/// use, without reflection (trimming-safe). A value that cannot be parsed is recorded and reported by validation with
/// the key it came from, instead of failing somewhere deep inside the options factory.
/// </summary>
internal static class M3terAuthConfiguration
{
    /// <summary>The environment variables for the default registration, by option name.</summary>
    public static readonly IReadOnlyDictionary<string, string> EnvironmentVariables = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        [nameof(M3terAuthOptions.AccessKeyId)] = "M3TER_API_KEY",
        [nameof(M3terAuthOptions.ApiSecret)] = "M3TER_API_SECRET",
        [nameof(M3terAuthOptions.OrganizationId)] = "M3TER_ORG_ID",
        [nameof(M3terAuthOptions.BaseAddress)] = "M3TER_BASE_URL",
        [nameof(M3terAuthOptions.IngestBaseAddress)] = "M3TER_INGEST_URL",
        [nameof(M3terAuthOptions.AccessToken)] = "M3TER_API_TOKEN",
    };

    public static void ApplyEnvironment(M3terAuthOptions options) =>
        Apply(options, key => EnvironmentVariables.TryGetValue(key, out string? variable) ? Environment.GetEnvironmentVariable(variable) : null, key => EnvironmentVariables[key]);

    public static void ApplySection(M3terAuthOptions options, IConfiguration section)
    {
        string path = section is IConfigurationSection s ? s.Path : string.Empty;
        Apply(options, key => section[key], key => path.Length == 0 ? key : path + ":" + key);
    }

    private static void Apply(M3terAuthOptions options, Func<string, string?> read, Func<string, string> describe)
    {
        Action<string, string> error = (option, message) => (options.ConfigurationErrors ??= new Dictionary<string, string>(StringComparer.Ordinal))[option] = message;
        SetString(read, nameof(M3terAuthOptions.AccessKeyId), v => options.AccessKeyId = v);
        SetString(read, nameof(M3terAuthOptions.ApiSecret), v => options.ApiSecret = v);
        SetString(read, nameof(M3terAuthOptions.OrganizationId), v => options.OrganizationId = v);
        SetString(read, nameof(M3terAuthOptions.AccessToken), v => options.AccessToken = v);

        if (Value(read, nameof(M3terAuthOptions.WarmUpOnStart)) is string warmUp)
        {
            if (bool.TryParse(warmUp, out bool value))
            {
                options.WarmUpOnStart = value;
            }
            else
            {
                error(nameof(M3terAuthOptions.WarmUpOnStart), $"{describe(nameof(M3terAuthOptions.WarmUpOnStart))} must be true or false, but it is '{warmUp}'.");
            }
        }

        SetAddress(error, read, describe, nameof(M3terAuthOptions.BaseAddress), "https://api.m3ter.com/", v => options.BaseAddress = v);
        SetAddress(error, read, describe, nameof(M3terAuthOptions.IngestBaseAddress), "https://ingest.m3ter.com/", v => options.IngestBaseAddress = v);

        SetTimeSpan(error, read, describe, nameof(M3terAuthOptions.RefreshBeforeExpiry), v => options.RefreshBeforeExpiry = v);
        SetTimeSpan(error, read, describe, nameof(M3terAuthOptions.TokenRequestTimeout), v => options.TokenRequestTimeout = v);
        SetTimeSpan(error, read, describe, nameof(M3terAuthOptions.RetryDelay), v => options.RetryDelay = v);
        SetTimeSpan(error, read, describe, nameof(M3terAuthOptions.RejectedCredentialsCacheDuration), v => options.RejectedCredentialsCacheDuration = v);

        SetInt(error, read, describe, nameof(M3terAuthOptions.MaxRetryAttempts), v => options.MaxRetryAttempts = v);
    }

    /// <summary>Reads <see cref="M3terTenantOptions"/> from the <c>M3ter:Tenants</c> section: the same keys, parsing and messages as the token settings of <see cref="M3terAuthOptions"/>.</summary>
    public static void ApplyTenantSection(M3terTenantOptions options, IConfiguration section)
    {
        string path = section is IConfigurationSection s ? s.Path : string.Empty;
        Func<string, string?> read = key => section[key];
        Func<string, string> describe = key => path.Length == 0 ? key : path + ":" + key;
        Action<string, string> error = (option, message) => (options.ConfigurationErrors ??= new Dictionary<string, string>(StringComparer.Ordinal))[option] = message;
        SetInt(error, read, describe, nameof(M3terTenantOptions.MaxTenants), v => options.MaxTenants = v);
        SetTimeSpan(error, read, describe, nameof(M3terTenantOptions.IdleTimeout), v => options.IdleTimeout = v);
        SetTimeSpan(error, read, describe, nameof(M3terTenantOptions.UnknownTenantCacheDuration), v => options.UnknownTenantCacheDuration = v);
        SetTimeSpan(error, read, describe, nameof(M3terTenantOptions.RefreshBeforeExpiry), v => options.RefreshBeforeExpiry = v);
        SetTimeSpan(error, read, describe, nameof(M3terTenantOptions.TokenRequestTimeout), v => options.TokenRequestTimeout = v);
        SetTimeSpan(error, read, describe, nameof(M3terTenantOptions.RetryDelay), v => options.RetryDelay = v);
        SetTimeSpan(error, read, describe, nameof(M3terTenantOptions.RejectedCredentialsCacheDuration), v => options.RejectedCredentialsCacheDuration = v);
        SetInt(error, read, describe, nameof(M3terTenantOptions.MaxRetryAttempts), v => options.MaxRetryAttempts = v);
    }

    private static void SetInt(Action<string, string> error, Func<string, string?> read, Func<string, string> describe, string key, Action<int> set)
    {
        if (Value(read, key) is not string text)
        {
            return;
        }

        if (int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int value))
        {
            set(value);
        }
        else
        {
            error(key, $"{describe(key)} must be a whole number, but it is '{text}'.");
        }
    }

    private static string? Value(Func<string, string?> read, string key) =>
        read(key) is { Length: > 0 } value ? value.Trim() : null;

    private static void SetString(Func<string, string?> read, string key, Action<string> set)
    {
        if (Value(read, key) is string value)
        {
            set(value);
        }
    }

    private static void SetAddress(Action<string, string> error, Func<string, string?> read, Func<string, string> describe, string key, string example, Action<Uri> set)
    {
        if (Value(read, key) is not string address)
        {
            return;
        }

        if (Uri.TryCreate(address, UriKind.Absolute, out Uri? uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps))
        {
            set(uri);
        }
        else
        {
            error(key, $"{describe(key)} must be an absolute http(s) URI such as {example}, but it is '{address}'.");
        }
    }

    private static void SetTimeSpan(Action<string, string> error, Func<string, string?> read, Func<string, string> describe, string key, Action<TimeSpan> set)
    {
        if (Value(read, key) is not string text)
        {
            return;
        }

        if (TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out TimeSpan value))
        {
            set(value);
        }
        else
        {
            error(key, $"{describe(key)} must be a time span such as 00:05:00, but it is '{text}'.");
        }
    }
}
