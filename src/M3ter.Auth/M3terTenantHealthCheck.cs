using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using M3ter.Auth.Internal;
using M3ter.Auth.Tenants;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace M3ter.Auth;

/// <summary>
/// Reports on the tenants <c>AddM3terAuthTenants</c> holds: <b>healthy</b> while each has a valid token or has not
/// failed, <b>degraded</b> when some tenants' tokens cannot be had or refreshed (the others still work) or the shared
/// token cache is unavailable, <b>unhealthy</b>
/// when every tenant held has failed and none has a valid token (m3ter unreachable, most likely).
/// </summary>
/// <remarks>
/// Register it with <c>services.AddHealthChecks().AddCheck&lt;M3terTenantHealthCheck&gt;("m3ter-tenants")</c>. It
/// never asks the credential source or m3ter: it reads what the held tenants last saw. It names at most five failing
/// tenants, and never a secret or a token.
/// </remarks>
public sealed class M3terTenantHealthCheck : IHealthCheck
{
    private const int NamedAtMost = 5;
    private readonly IM3terTenantTokenProvider _tenants;

    /// <summary>Initializes a new instance of the <see cref="M3terTenantHealthCheck"/> class.</summary>
    /// <param name="tenants">The tenants' token provider (the one <c>AddM3terAuthTenants</c> registers, when resolved from DI).</param>
    /// <exception cref="ArgumentNullException"><paramref name="tenants"/> is null.</exception>
    public M3terTenantHealthCheck(IM3terTenantTokenProvider tenants)
    {
        _tenants = tenants ?? throw new ArgumentNullException(nameof(tenants));
    }

    /// <inheritdoc />
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (_tenants is not TenantCache cache)
        {
            return Task.FromResult(HealthCheckResult.Healthy("The tenants' token provider is not M3ter.Auth's own; nothing to inspect."));
        }

        int held = 0;
        int valid = 0;
        string? sharedCacheUnavailable = null;
        var failing = new List<(string Tenant, TokenStatus Status)>();
        foreach (TenantState state in cache.HeldTenants())
        {
            held++;
            TokenStatus status = state.Provider.Status();
            sharedCacheUnavailable ??= status.SharedCacheUnavailable;
            if (status.ValidToken is not null)
            {
                valid++;
            }

            if (status.LastFailure is not null && (status.ValidToken is null || status.RefreshFailures > 0))
            {
                failing.Add((state.Tenant, status));
            }
        }

        var data = new Dictionary<string, object> { ["held"] = held, ["withValidToken"] = valid, ["failing"] = failing.Count };
        if (failing.Count == 0 && sharedCacheUnavailable is not null)
        {
            data["sharedCache"] = sharedCacheUnavailable;
            return Task.FromResult(HealthCheckResult.Degraded(
                string.Format(CultureInfo.InvariantCulture, "The shared token cache is not in use ({0}); this process fetches its own tokens for its {1} tenant(s) meanwhile, {2} with a valid m3ter token.", sharedCacheUnavailable, held, valid),
                data: data));
        }

        if (failing.Count == 0)
        {
            return Task.FromResult(HealthCheckResult.Healthy(
                string.Format(CultureInfo.InvariantCulture, "{0} tenant(s) held, {1} with a valid m3ter token.", held, valid),
                data));
        }

        failing.Sort((a, b) => string.CompareOrdinal(a.Tenant, b.Tenant));
        string named = string.Join(", ", failing.Take(NamedAtMost).Select(f => "'" + f.Tenant + "'"))
            + (failing.Count > NamedAtMost ? string.Format(CultureInfo.InvariantCulture, " and {0} more", failing.Count - NamedAtMost) : string.Empty);
        Exception? last = failing[0].Status.LastFailure;
        string description = string.Format(
            CultureInfo.InvariantCulture,
            "{0} of {1} tenant(s) held cannot get or refresh an m3ter token ({2}); {3} have a valid token. First: {4}",
            failing.Count,
            held,
            named,
            valid,
            last?.Message);
        HealthStatus overall = valid == 0 && failing.Count == held ? context?.Registration?.FailureStatus ?? HealthStatus.Unhealthy : HealthStatus.Degraded;
        return Task.FromResult(new HealthCheckResult(overall, description, last, data));
    }
}
