using System.Threading;
using System.Threading.Tasks;

namespace M3ter.Auth.Tenants;

/// <summary>
/// One tenant's tokens for the hosts of one of its states, as an <see cref="ITokenProvider"/>, for the handler's
/// renewals: always through the tenant cache, so a renewal after the tenant was dropped or its credentials rotated
/// asks the current state (or the source), and never a token of credentials that now belong to other hosts.
/// </summary>
internal sealed class TenantTokenSource(TenantCache cache, TenantState hosts) : ITokenProvider
{
    public ValueTask<M3terToken> GetTokenAsync(CancellationToken cancellationToken = default) =>
        new(cache.GetTokenForHostsOfAsync(hosts, cancellationToken));

    public void Invalidate(M3terToken token) => cache.Invalidate(hosts.Tenant, token);
}
