using System;
using System.Collections.Generic;
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
        Apply(OptionSettings.Auth, options, key => EnvironmentVariables.TryGetValue(key, out string? variable) ? Environment.GetEnvironmentVariable(variable) : null, key => EnvironmentVariables[key], ErrorsOf(options));

    public static void ApplySection(M3terAuthOptions options, IConfiguration section) =>
        ApplySection(OptionSettings.Auth, options, section, ErrorsOf(options));

    /// <summary>Reads <see cref="M3terTenantOptions"/> from the <c>M3ter:Tenants</c> section: the same keys, parsing and messages as the token settings of <see cref="M3terAuthOptions"/>.</summary>
    public static void ApplyTenantSection(M3terTenantOptions options, IConfiguration section) =>
        ApplySection(OptionSettings.Tenant, options, section, (option, message) => (options.ConfigurationErrors ??= new Dictionary<string, string>(StringComparer.Ordinal))[option] = message);

    private static Action<string, string> ErrorsOf(M3terAuthOptions options) =>
        (option, message) => (options.ConfigurationErrors ??= new Dictionary<string, string>(StringComparer.Ordinal))[option] = message;

    /// <summary>Reads a section, each message naming the key by its path in the configuration.</summary>
    private static void ApplySection<T>(IOptionSetting<T>[] settings, T options, IConfiguration section, Action<string, string> error)
    {
        string path = section is IConfigurationSection s ? s.Path : string.Empty;
        Apply(settings, options, key => section[key], key => path.Length == 0 ? key : path + ":" + key, error);
    }

    /// <summary>Sets every option <paramref name="read"/> has a (non-empty) value for; one that does not parse is reported to <paramref name="error"/> and left as it was.</summary>
    private static void Apply<T>(IOptionSetting<T>[] settings, T options, Func<string, string?> read, Func<string, string> describe, Action<string, string> error)
    {
        foreach (IOptionSetting<T> setting in settings)
        {
            if (Value(read, setting.Name) is string text)
            {
                setting.Read(options, text, describe(setting.Name), error);
            }
        }
    }

    private static string? Value(Func<string, string?> read, string key) =>
        read(key) is { Length: > 0 } value ? value.Trim() : null;
}
