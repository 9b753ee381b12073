using System;
using System.Globalization;
using System.Net.Http.Headers;

namespace M3ter.Auth.Internal;

/// <summary>How long to wait before retrying a token request.</summary>
internal static class RetryDelays
{
    /// <summary>A server that asks for a longer pause than this is not retried: callers would hang for it.</summary>
    public static readonly TimeSpan MaxHonouredRetryAfter = TimeSpan.FromSeconds(30);

    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Exponential back-off from <paramref name="baseDelay"/> (retry 0 waits about the base, retry 1 twice that...),
    /// with ±25% jitter so that many processes failing together do not retry together; capped at 30 seconds.
    /// </summary>
    /// <param name="baseDelay">The first delay.</param>
    /// <param name="retry">Zero for the first retry.</param>
    /// <param name="random">A number in [0, 1).</param>
    public static TimeSpan Backoff(TimeSpan baseDelay, int retry, double random)
    {
        double exponential = baseDelay.TotalMilliseconds * Math.Pow(2, Math.Min(retry, 16));
        double jittered = exponential * (0.75 + (random * 0.5));
        return TimeSpan.FromMilliseconds(Math.Min(jittered, MaxBackoff.TotalMilliseconds));
    }

    /// <summary>Reads <c>Retry-After</c> as seconds or an HTTP date, relative to <paramref name="now"/>; null when absent.</summary>
    public static TimeSpan? FromRetryAfter(RetryConditionHeaderValue? retryAfter, DateTimeOffset now)
    {
        if (retryAfter is null)
        {
            return null;
        }

        if (retryAfter.Delta is TimeSpan delta)
        {
            return delta < TimeSpan.Zero ? TimeSpan.Zero : delta;
        }

        if (retryAfter.Date is DateTimeOffset date)
        {
            TimeSpan wait = date - now;
            return wait < TimeSpan.Zero ? TimeSpan.Zero : wait;
        }

        return null;
    }

    public static string Describe(TimeSpan delay) =>
        delay.TotalSeconds >= 1
            ? delay.TotalSeconds.ToString("0.#", CultureInfo.InvariantCulture) + " s"
            : delay.TotalMilliseconds.ToString("0", CultureInfo.InvariantCulture) + " ms";
}
