using System;
using System.Net;
using Microsoft.Extensions.Logging;

namespace M3ter.Auth.Internal;

/// <summary>Every log message of the package, source-generated. None of them takes a secret or a token as an argument.</summary>
internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Debug, "Requesting an m3ter access token from {TokenEndpoint}.", EventName = "TokenRequesting")]
    public static partial void TokenRequesting(ILogger logger, Uri tokenEndpoint);

    [LoggerMessage(2, LogLevel.Debug, "Obtained an m3ter access token expiring at {ExpiresAt:O} (lifetime {Lifetime}).", EventName = "TokenAcquired")]
    public static partial void TokenAcquired(ILogger logger, DateTimeOffset expiresAt, TimeSpan lifetime);

    [LoggerMessage(3, LogLevel.Debug, "Retrying the m3ter token request in {Delay} (retry {Retry}): {Reason}", EventName = "TokenRequestRetrying")]
    public static partial void TokenRequestRetrying(ILogger logger, TimeSpan delay, int retry, string reason);

    [LoggerMessage(4, LogLevel.Debug, "The m3ter token request failed: {Reason}", EventName = "TokenRequestFailed")]
    public static partial void TokenRequestFailed(ILogger logger, string reason);

    [LoggerMessage(5, LogLevel.Warning, "Refreshing the m3ter access token failed; the current token stays in use until it expires at {ExpiresAt:O}, and the refresh is retried in {RetryIn}. {Reason}", EventName = "BackgroundRefreshFailed")]
    public static partial void BackgroundRefreshFailed(ILogger logger, DateTimeOffset expiresAt, TimeSpan retryIn, string reason);

    [LoggerMessage(6, LogLevel.Information, "m3ter answered {StatusCode} to {Method} {Host}{Path}; replaying it once with a fresh token.", EventName = "ReplayingWithFreshToken")]
    public static partial void ReplayingWithFreshToken(ILogger logger, HttpStatusCode statusCode, string method, string host, string path);

    [LoggerMessage(7, LogLevel.Information, "m3ter answered {StatusCode} to {Method} {Host}{Path} with a fresh token too: treating it as a permission error, not an expired token, so further refusals do not force new tokens for {Cooldown}.", EventName = "PermanentRejection")]
    public static partial void PermanentRejection(ILogger logger, HttpStatusCode statusCode, string method, string host, string path, TimeSpan cooldown);

    [LoggerMessage(8, LogLevel.Information, "The m3ter options of registration '{Registration}' changed: {Effect}.", EventName = "OptionsChanged")]
    public static partial void OptionsChanged(ILogger logger, string registration, string effect);

    [LoggerMessage(9, LogLevel.Debug, "The m3ter credentials were rejected {Age} ago; failing at once without a token request until {RetryAt:O}.", EventName = "RejectionRemembered")]
    public static partial void RejectionRemembered(ILogger logger, TimeSpan age, DateTimeOffset retryAt);

    [LoggerMessage(10, LogLevel.Debug, "Refreshing the m3ter access token failed again ({Failures} in a row); retrying in {RetryIn}. {Reason}", EventName = "BackgroundRefreshStillFailing")]
    public static partial void BackgroundRefreshStillFailing(ILogger logger, int failures, TimeSpan retryIn, string reason);

    [LoggerMessage(11, LogLevel.Information, "Warmed up m3ter registration '{Registration}': a token valid until {ExpiresAt:O} is cached.", EventName = "WarmedUp")]
    public static partial void WarmedUp(ILogger logger, string registration, DateTimeOffset expiresAt);

    [LoggerMessage(12, LogLevel.Warning, "Warming up m3ter registration '{Registration}' failed; the application starts anyway and the first request tries again. {Reason}", EventName = "WarmUpFailed")]
    public static partial void WarmUpFailed(ILogger logger, string registration, string reason);

    [LoggerMessage(13, LogLevel.Error, "No m3ter access token could be obtained: {Reason}", EventName = "TokenUnavailable")]
    public static partial void TokenUnavailable(ILogger logger, string reason);

    [LoggerMessage(14, LogLevel.Warning, "Warming up m3ter registration '{Registration}' did not finish within {Bound} (TokenRequestTimeout); the application starts and the token request goes on in the background.", EventName = "WarmUpTimedOut")]
    public static partial void WarmUpTimedOut(ILogger logger, string registration, TimeSpan bound);

    [LoggerMessage(15, LogLevel.Debug, "Removed {Handler} from the m3ter token client's pipeline: token requests have their own retries, timeout and rejection memory.", EventName = "TokenClientHandlerRemoved")]
    public static partial void TokenClientHandlerRemoved(ILogger logger, string handler);

    [LoggerMessage(16, LogLevel.Debug, "A request to m3ter was redirected to {Host}, which answered {StatusCode}: returned as it is, without a token or a replay.", EventName = "RefusalAfterRedirect")]
    public static partial void RefusalAfterRedirect(ILogger logger, HttpStatusCode statusCode, string host);

    [LoggerMessage(17, LogLevel.Warning, "The shared token cache failed ({ExceptionType}); treated as a miss. Implementations should not throw.", EventName = "SharedCacheFailed")]
    public static partial void SharedCacheFailed(ILogger logger, string exceptionType);

    [LoggerMessage(18, LogLevel.Debug, "A token request of a provider that configuration has replaced failed; nothing is served by it any more. {Reason}", EventName = "RetiredRequestFailed")]
    public static partial void RetiredRequestFailed(ILogger logger, string reason);

    [LoggerMessage(19, LogLevel.Warning, "Looking up the credentials of m3ter tenant '{Tenant}' failed ({ExceptionType}).", EventName = "TenantLookupFailed")]
    public static partial void TenantLookupFailed(ILogger logger, string tenant, string exceptionType);

    [LoggerMessage(20, LogLevel.Information, "m3ter refused the credentials of tenant '{Tenant}', and the credential source had new ones: using them.", EventName = "TenantCredentialsRotated")]
    public static partial void TenantCredentialsRotated(ILogger logger, string tenant);

    [LoggerMessage(21, LogLevel.Debug, "m3ter tenant '{Tenant}' is no longer held ({Reason}).", EventName = "TenantDropped")]
    public static partial void TenantDropped(ILogger logger, string tenant, string reason);
}
