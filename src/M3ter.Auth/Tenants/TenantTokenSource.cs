using System.Threading;
using System.Threading.Tasks;

namespace M3ter.Auth.Tenants;

/// <summary>
/// One tenant's tokens as an <see cref="ITokenProvider"/>, for the handler's renewals: always through the tenant
/// cache, so a renewal after the tenant was dropped or its credentials rotated asks the current state (or the source).
/// </summary>
internal sealed class TenantTokenSource(TenantCache cache, string tenant) : ITokenProvider
{
    public ValueTask<M3terToken> GetTokenAsync(CancellationToken cancellationToken = default) => cache.GetTokenAsync(tenant, cancellationToken);

    public void Invalidate(M3terToken token) => cache.Invalidate(tenant, token);
}
