using System;
using System.Collections.Generic;
using Microsoft.Extensions.Options;

namespace M3ter.Auth.StackExchangeRedis.Internal;

/// <summary>Validates <see cref="M3terRedisTokenCacheOptions"/>; every message names the setting and never the configuration string (it may hold a password).</summary>
internal sealed class M3terRedisTokenCacheOptionsValidator : IValidateOptions<M3terRedisTokenCacheOptions>
{
    private const string Prefix = nameof(M3terRedisTokenCacheOptions) + ".";

    public ValidateOptionsResult Validate(string? name, M3terRedisTokenCacheOptions options)
    {
        List<string> errors = Collect(options);
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    /// <summary>Checks options handed to a constructor.</summary>
    public static void ThrowIfInvalid(M3terRedisTokenCacheOptions options, string paramName)
    {
        List<string> errors = Collect(options ?? throw new ArgumentNullException(paramName));
        if (errors.Count > 0)
        {
            throw new ArgumentException("Invalid Redis token cache options: " + string.Join(" ", errors), paramName);
        }
    }

    private static List<string> Collect(M3terRedisTokenCacheOptions options)
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(options.Configuration) && options.ConnectionMultiplexerFactory is null)
        {
            errors.Add($"{Prefix}{nameof(options.Configuration)} or {Prefix}{nameof(options.ConnectionMultiplexerFactory)} is required (where Redis is, for example \"redis:6379\").");
        }

        if (string.IsNullOrEmpty(options.KeyPrefix))
        {
            errors.Add($"{Prefix}{nameof(options.KeyPrefix)} must not be empty.");
        }
        else if (options.KeyPrefix.IndexOfAny(['{', '}']) >= 0)
        {
            errors.Add($"{Prefix}{nameof(options.KeyPrefix)} must not contain '{{' or '}}': the cache uses a Redis Cluster hash tag after it.");
        }

        Check(errors, nameof(options.OperationTimeout), options.OperationTimeout, TimeSpan.FromSeconds(10));
        Check(errors, nameof(options.ConnectTimeout), options.ConnectTimeout, TimeSpan.FromSeconds(30));
        Check(errors, nameof(options.BreakDuration), options.BreakDuration, TimeSpan.FromMinutes(10));
        Check(errors, nameof(options.LeaseDuration), options.LeaseDuration, TimeSpan.FromMinutes(10));
        if (options.LeaseDuration > TimeSpan.Zero && options.LeaseDuration < TimeSpan.FromSeconds(1))
        {
            errors.Add($"{Prefix}{nameof(options.LeaseDuration)} must be at least 1 second (its holder renews it every third of it), but it is {options.LeaseDuration}.");
        }
        Check(errors, nameof(options.LeaseWaitTimeout), options.LeaseWaitTimeout, TimeSpan.FromMinutes(10));
        return errors;
    }

    private static void Check(List<string> errors, string setting, TimeSpan value, TimeSpan max)
    {
        if (value <= TimeSpan.Zero || value > max)
        {
            errors.Add($"{Prefix}{setting} must be positive and at most {max}, but it is {value}.");
        }
    }
}
