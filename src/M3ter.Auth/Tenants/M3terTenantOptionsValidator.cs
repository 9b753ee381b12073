using System;
using System.Collections.Generic;
using System.Threading;
using M3ter.Auth.Internal;
using Microsoft.Extensions.Options;

namespace M3ter.Auth.Tenants;

/// <summary>Validates <see cref="M3terTenantOptions"/>: the token settings as <see cref="M3terAuthOptions"/>'s, and the bounds; every message names the key.</summary>
internal sealed class M3terTenantOptionsValidator : IValidateOptions<M3terTenantOptions>
{
    public ValidateOptionsResult Validate(string? name, M3terTenantOptions options)
    {
        List<string> errors = Collect(options);
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    public static List<string> Collect(M3terTenantOptions options)
    {
        const string prefix = M3terTenantOptions.ConfigurationSectionName;
        var errors = new List<string>();
        if (options.ConfigurationErrors is { Count: > 0 } configurationErrors)
        {
            errors.AddRange(configurationErrors.Values);
        }

        if (options.MaxTenants < 1)
        {
            errors.Add($"{prefix}:MaxTenants must be at least 1, but it is {options.MaxTenants}.");
        }

        if (options.IdleTimeout <= TimeSpan.Zero && options.IdleTimeout != Timeout.InfiniteTimeSpan)
        {
            errors.Add($"{prefix}:IdleTimeout must be positive (or Timeout.InfiniteTimeSpan), but it is {options.IdleTimeout}.");
        }

        if (options.UnknownTenantCacheDuration < TimeSpan.Zero)
        {
            errors.Add($"{prefix}:UnknownTenantCacheDuration must not be negative, but it is {options.UnknownTenantCacheDuration}.");
        }

        M3terAuthOptionsValidator.CheckTokenSettings(errors, prefix, options);
        return errors;
    }
}
