using System;
using System.Collections.Generic;
using System.Net;
using Microsoft.Extensions.Options;

namespace M3ter.Auth.Internal;

/// <summary>Validates <see cref="M3terAuthOptions"/>; every message names the setting (as its configuration key) and never a secret.</summary>
internal sealed class M3terAuthOptionsValidator : IValidateOptions<M3terAuthOptions>
{
    private static readonly TimeSpan MinTokenRequestTimeout = TimeSpan.FromMilliseconds(10);

    public ValidateOptionsResult Validate(string? name, M3terAuthOptions options)
    {
        List<string> errors = Collect(options, string.IsNullOrEmpty(name) ? M3terAuthOptions.ConfigurationSectionName : M3terAuthOptions.ConfigurationSectionName + ":" + name);
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    /// <summary>Checks options handed to a constructor and returns a private copy, so later changes cannot bypass validation.</summary>
    public static M3terAuthOptions ValidatedCopy(M3terAuthOptions options, string paramName)
    {
        if (options is null)
        {
            throw new ArgumentNullException(paramName);
        }

        List<string> errors = Collect(options, M3terAuthOptions.ConfigurationSectionName);
        if (errors.Count > 0)
        {
            throw new ArgumentException("Invalid m3ter options: " + string.Join(" ", errors), paramName);
        }

        return options.Clone();
    }

    internal static List<string> Collect(M3terAuthOptions options, string prefix)
    {
        var errors = new List<string>();
        if (options.ConfigurationErrors is { Count: > 0 } configurationErrors)
        {
            errors.AddRange(configurationErrors.Values);
        }

        // A pre-issued token needs no credentials; without one, both are required.
        bool staticToken = !string.IsNullOrWhiteSpace(options.AccessToken);
        if (!staticToken && string.IsNullOrWhiteSpace(options.AccessKeyId))
        {
            errors.Add($"{prefix}:AccessKeyId is required (the access key id of an m3ter service user; environment variable M3TER_API_KEY).");
        }

        if (!staticToken && string.IsNullOrWhiteSpace(options.ApiSecret))
        {
            errors.Add($"{prefix}:ApiSecret is required (the service user's API secret; environment variable M3TER_API_SECRET).");
        }

        if (staticToken && BearerTokenSyntax.FindInvalid(options.AccessToken!.Trim()) is int invalid and >= 0)
        {
            errors.Add(BearerTokenSyntax.Describe(prefix + ":AccessToken", invalid) + ".");
        }

        CheckAddress(errors, prefix + ":BaseAddress", options.BaseAddress, "https://api.m3ter.com/");
        CheckAddress(errors, prefix + ":IngestBaseAddress", options.IngestBaseAddress, "https://ingest.m3ter.com/");

        CheckTokenSettings(errors, prefix, options);
        return errors;
    }

    /// <summary>The token settings that <see cref="M3terAuthOptions"/> and <see cref="M3terTenantOptions"/> share, checked alike.</summary>
    internal static void CheckTokenSettings(List<string> errors, string prefix, ITokenSettings settings)
    {
        TimeSpan refreshBeforeExpiry = settings.RefreshBeforeExpiry;
        TimeSpan tokenRequestTimeout = settings.TokenRequestTimeout;
        int maxRetryAttempts = settings.MaxRetryAttempts;
        TimeSpan retryDelay = settings.RetryDelay;
        TimeSpan rejectedCredentialsCacheDuration = settings.RejectedCredentialsCacheDuration;
        if (refreshBeforeExpiry < TimeSpan.Zero)
        {
            errors.Add($"{prefix}:RefreshBeforeExpiry must not be negative, but it is {refreshBeforeExpiry}.");
        }

        // The timeout strategy takes 10 ms to a day; outside that it fails when the client is created, not here.
        if (tokenRequestTimeout < MinTokenRequestTimeout || tokenRequestTimeout > TimeSpan.FromHours(24))
        {
            errors.Add($"{prefix}:TokenRequestTimeout must be between 10 milliseconds and a day, but it is {tokenRequestTimeout}.");
        }

        if (maxRetryAttempts is < 0 or > 10)
        {
            errors.Add($"{prefix}:MaxRetryAttempts must be between 0 and 10, but it is {maxRetryAttempts}.");
        }

        if (retryDelay < TimeSpan.Zero || retryDelay > TimeSpan.FromMinutes(1))
        {
            errors.Add($"{prefix}:RetryDelay must be between zero and one minute, but it is {retryDelay}.");
        }

        if (rejectedCredentialsCacheDuration < TimeSpan.Zero)
        {
            errors.Add($"{prefix}:RejectedCredentialsCacheDuration must not be negative, but it is {rejectedCredentialsCacheDuration}.");
        }
    }

    private static void CheckAddress(List<string> errors, string setting, Uri address, string example)
    {
        if (!address.IsAbsoluteUri)
        {
            errors.Add($"{setting} must be an absolute http(s) URI such as {example}, but it is '{address}'.");
        }
        else if (address.Scheme == Uri.UriSchemeHttp && !IsLoopback(address))
        {
            errors.Add($"{setting} must use https (plain http is allowed only for loopback addresses, such as the emulator's), but it is '{address}'.");
        }
        else if (address.Scheme != Uri.UriSchemeHttp && address.Scheme != Uri.UriSchemeHttps)
        {
            errors.Add($"{setting} must be an absolute http(s) URI such as {example}, but its scheme is '{address.Scheme}'.");
        }
        else if (address.Query.Length > 0 || address.Fragment.Length > 0)
        {
            // Paths are resolved against the address: a query or fragment would be dropped silently.
            errors.Add($"{setting} must not have a query string or fragment (the token endpoint is {{BaseAddress}}oauth/token), but it is '{address}'.");
        }
    }

    private static bool IsLoopback(Uri uri) =>
        uri.IsLoopback || (IPAddress.TryParse(uri.DnsSafeHost, out IPAddress? address) && IPAddress.IsLoopback(address));
}
