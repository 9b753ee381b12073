using System;
using System.Collections.Generic;
using System.Globalization;
using System.Threading;
using System.Threading.Tasks;
using M3ter.Auth.Internal;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace M3ter.Auth;

/// <summary>
/// Reports whether m3ter calls can be authenticated: <b>healthy</b> with a valid token, <b>degraded</b> when the token
/// is still valid but refreshing it is failing or the shared token cache is unavailable (its circuit breaker open),
/// <b>unhealthy</b> when no valid token can be had.
/// </summary>
/// <remarks>
/// Register it with <c>services.AddHealthChecks().AddCheck&lt;M3terAuthHealthCheck&gt;("m3ter")</c>. With no token
/// cached yet it asks for one, so the check also warms the cache. It never reports the token.
/// </remarks>
public sealed class M3terAuthHealthCheck : IHealthCheck
{
    private readonly ITokenProvider _tokenProvider;

    /// <summary>Initializes a new instance of the <see cref="M3terAuthHealthCheck"/> class.</summary>
    /// <param name="tokenProvider">The provider to check (the default registration's, when resolved from DI).</param>
    /// <exception cref="ArgumentNullException"><paramref name="tokenProvider"/> is null.</exception>
    public M3terAuthHealthCheck(ITokenProvider tokenProvider)
    {
        _tokenProvider = tokenProvider ?? throw new ArgumentNullException(nameof(tokenProvider));
    }

    /// <inheritdoc />
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (_tokenProvider is ITokenStatusSource source && source.GetStatus() is { ValidToken: M3terToken valid } status)
        {
            var data = new Dictionary<string, object> { ["expiresAt"] = valid.ExpiresAt, ["refreshFailures"] = status.RefreshFailures };
            if (status.RefreshFailures > 0)
            {
                return HealthCheckResult.Degraded(
                    string.Format(CultureInfo.InvariantCulture, "Refreshing the m3ter token has failed {0} time(s) in a row; the current {1}. {2}", status.RefreshFailures, Describe(valid), status.LastFailure?.Message),
                    status.LastFailure,
                    data);
            }

            if (status.SharedCacheUnavailable is string unavailable)
            {
                data["sharedCache"] = unavailable;
                return HealthCheckResult.Degraded(
                    string.Format(CultureInfo.InvariantCulture, "The shared token cache is not in use ({0}); this process fetches its own tokens meanwhile. The current {1}.", unavailable, Describe(valid)),
                    data: data);
            }

            return HealthCheckResult.Healthy(Describe(valid), data);
        }

        try
        {
            M3terToken token = await _tokenProvider.GetTokenAsync(cancellationToken).ConfigureAwait(false);
            return HealthCheckResult.Healthy(Describe(token), new Dictionary<string, object> { ["expiresAt"] = token.ExpiresAt });
        }
        catch (M3terAuthException ex)
        {
            return new HealthCheckResult(context?.Registration?.FailureStatus ?? HealthStatus.Unhealthy, "No valid m3ter access token: " + ex.Message, ex);
        }
    }

    private static string Describe(M3terToken token) =>
        token.ExpiresAt == DateTimeOffset.MaxValue
            ? "m3ter token is valid (pre-issued, no expiry)"
            : string.Format(CultureInfo.InvariantCulture, "m3ter token is valid until {0:O}", token.ExpiresAt);
}
