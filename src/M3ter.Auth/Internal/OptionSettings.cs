using System;
using System.Linq;
using static M3ter.Auth.Internal.ReloadEffect;

namespace M3ter.Auth.Internal;

/// <summary>
/// Every option, declared once: its configuration key (the property's name), how it is read, and what a reload that
/// changes it does to the cached token. Adding an option is its property, a row here and its check in the validator;
/// whether a reload keeps the token follows from the row (<see cref="M3terAuthOptions.IsEquivalentTo"/>,
/// <see cref="M3terAuthOptions.SharesTokensWith"/>, <see cref="M3terAuthOptions.HasSameCredentials"/>), and a
/// convention test fails for a public property without one.
/// </summary>
internal static class OptionSettings
{
    /// <summary>The token settings, which both options types have and a tenant's options copy.</summary>
    public static readonly IOptionSetting<ITokenSettings>[] Token =
    {
        OptionSetting.Duration<ITokenSettings>(nameof(ITokenSettings.RefreshBeforeExpiry), KeepsToken, "00:10:00", o => o.RefreshBeforeExpiry, (o, v) => o.RefreshBeforeExpiry = v),
        OptionSetting.Duration<ITokenSettings>(nameof(ITokenSettings.TokenRequestTimeout), KeepsToken, "00:00:20", o => o.TokenRequestTimeout, (o, v) => o.TokenRequestTimeout = v),
        OptionSetting.Count<ITokenSettings>(nameof(ITokenSettings.MaxRetryAttempts), KeepsToken, "5", o => o.MaxRetryAttempts, (o, v) => o.MaxRetryAttempts = v),
        OptionSetting.Duration<ITokenSettings>(nameof(ITokenSettings.RetryDelay), KeepsToken, "00:00:02", o => o.RetryDelay, (o, v) => o.RetryDelay = v),
        OptionSetting.Duration<ITokenSettings>(nameof(ITokenSettings.RejectedCredentialsCacheDuration), KeepsToken, "00:01:00", o => o.RejectedCredentialsCacheDuration, (o, v) => o.RejectedCredentialsCacheDuration = v),
    };

    /// <summary>The options of <c>AddM3terAuth</c>.</summary>
    public static readonly IOptionSetting<M3terAuthOptions>[] Auth = new IOptionSetting<M3terAuthOptions>[]
    {
        OptionSetting.Text<M3terAuthOptions>(nameof(M3terAuthOptions.AccessKeyId), RenewsToken, "another-key-id", o => o.AccessKeyId, (o, v) => o.AccessKeyId = v ?? string.Empty),
        OptionSetting.Text<M3terAuthOptions>(nameof(M3terAuthOptions.ApiSecret), RenewsToken, "another-secret", o => o.ApiSecret, (o, v) => o.ApiSecret = v ?? string.Empty),
        OptionSetting.Text<M3terAuthOptions>(nameof(M3terAuthOptions.OrganizationId), KeepsToken, "another-org", o => o.OrganizationId, (o, v) => o.OrganizationId = v),
        OptionSetting.Text<M3terAuthOptions>(nameof(M3terAuthOptions.AccessToken), DropsToken, "a-pre-issued-token", o => o.AccessToken, (o, v) => o.AccessToken = v),
        OptionSetting.Flag<M3terAuthOptions>(nameof(M3terAuthOptions.WarmUpOnStart), KeepsToken, "true", o => o.WarmUpOnStart, (o, v) => o.WarmUpOnStart = v),
        OptionSetting.Address<M3terAuthOptions>(nameof(M3terAuthOptions.BaseAddress), DropsToken, "https://api.example.com/", o => o.BaseAddress, (o, v) => o.BaseAddress = v),

        // The token is sent to the ingest host too: never to a new one.
        OptionSetting.Address<M3terAuthOptions>(nameof(M3terAuthOptions.IngestBaseAddress), DropsToken, "https://ingest.example.com/", o => o.IngestBaseAddress, (o, v) => o.IngestBaseAddress = v),
    }.Concat(Token).ToArray();

    /// <summary>The options of <c>AddM3terAuthTenants</c>.</summary>
    public static readonly IOptionSetting<M3terTenantOptions>[] Tenant = new IOptionSetting<M3terTenantOptions>[]
    {
        OptionSetting.Count<M3terTenantOptions>(nameof(M3terTenantOptions.MaxTenants), KeepsToken, "50", o => o.MaxTenants, (o, v) => o.MaxTenants = v),
        OptionSetting.Duration<M3terTenantOptions>(nameof(M3terTenantOptions.IdleTimeout), KeepsToken, "01:00:00", o => o.IdleTimeout, (o, v) => o.IdleTimeout = v),
        OptionSetting.Duration<M3terTenantOptions>(nameof(M3terTenantOptions.UnknownTenantCacheDuration), KeepsToken, "00:00:30", o => o.UnknownTenantCacheDuration, (o, v) => o.UnknownTenantCacheDuration = v),
    }.Concat(Token).ToArray();

    /// <summary>Whether every option of <paramref name="settings"/> with the effect <paramref name="effect"/> (any effect when null) has the same value in both.</summary>
    public static bool AllSame<T>(IOptionSetting<T>[] settings, T a, T b, ReloadEffect? effect = null)
    {
        foreach (IOptionSetting<T> setting in settings)
        {
            if ((effect is null || setting.OnChange == effect) && !setting.Same(a, b))
            {
                return false;
            }
        }

        return true;
    }
}
