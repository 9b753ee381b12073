using System.Threading;
using System.Threading.Tasks;

namespace M3ter.Auth;

/// <summary>
/// Tokens for many tenants (m3ter organizations), each obtained with the credentials an
/// <see cref="IM3terCredentialSource"/> gives for it: cached, refreshed and single-flight per tenant, never shared
/// across tenants, and held for a bounded number of tenants (<see cref="M3terTenantOptions"/>).
/// </summary>
/// <remarks>Registered by <c>AddM3terAuthTenants</c>; <c>AddM3terTenantAuthHandler()</c> uses it for requests tagged with <c>WithM3terTenant</c>.</remarks>
public interface IM3terTenantTokenProvider
{
    /// <summary>Returns a valid token of <paramref name="tenant"/>, looking its credentials up first if the tenant is not held.</summary>
    /// <param name="tenant">The tenant.</param>
    /// <param name="cancellationToken">Stops this caller's wait; a lookup or token request that other callers share goes on.</param>
    /// <returns>The tenant's token.</returns>
    /// <exception cref="System.ArgumentNullException"><paramref name="tenant"/> is null.</exception>
    /// <exception cref="System.ArgumentException"><paramref name="tenant"/> is empty.</exception>
    /// <exception cref="M3terAuthException">The tenant is unknown to the source, the source failed (its exception is the inner one), its credentials are not valid, or no token could be obtained with them.</exception>
    ValueTask<M3terToken> GetTokenAsync(string tenant, CancellationToken cancellationToken = default);

    /// <summary>Tells the provider that m3ter refused <paramref name="token"/> of <paramref name="tenant"/>, so the next call gets a new one.</summary>
    /// <param name="tenant">The tenant the token was obtained for.</param>
    /// <param name="token">The refused token; a token that is no longer the tenant's current one is ignored.</param>
    void Invalidate(string tenant, M3terToken token);

    /// <summary>Drops what is held for <paramref name="tenant"/> (credentials and token); its next use looks the credentials up again.</summary>
    /// <param name="tenant">The tenant.</param>
    void Forget(string tenant);
}
