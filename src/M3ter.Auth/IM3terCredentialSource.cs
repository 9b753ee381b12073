using System.Threading;
using System.Threading.Tasks;

namespace M3ter.Auth;

/// <summary>
/// Where the credentials of each tenant (an m3ter organization the application acts for) are looked up when a request
/// needs them: a database, a vault, a configuration store. Register one with <c>AddM3terAuthTenants</c>.
/// </summary>
/// <remarks>
/// <para>A tenant is looked up once while it is held (concurrent first callers share one lookup), again after
/// <c>Forget</c>, after it was dropped (least recently used, or idle), and once more when m3ter refuses its
/// credentials, so a key rotated in the store is picked up without failing a call.</para>
/// <para>Calls may come from any thread, for different tenants at once. The source must never return one tenant's
/// credentials for another.</para>
/// </remarks>
public interface IM3terCredentialSource
{
    /// <summary>Looks up the credentials of <paramref name="tenant"/>.</summary>
    /// <param name="tenant">The tenant, as given to <c>WithM3terTenant</c> or <see cref="IM3terTenantTokenProvider.GetTokenAsync"/>.</param>
    /// <param name="cancellationToken">Cancelled when the application stops; a lookup is shared by callers, so it is not any one caller's token.</param>
    /// <returns>The tenant's credentials, or <see langword="null"/> when the tenant is unknown (the call then fails with an <see cref="M3terAuthException"/> that names the tenant).</returns>
    ValueTask<M3terCredentials?> GetCredentialsAsync(string tenant, CancellationToken cancellationToken);
}
