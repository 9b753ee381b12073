using System.Threading.Tasks;
using M3ter.Auth.Internal;

namespace M3ter.Auth.Tenants;

/// <summary>
/// One held tenant, for one set of its credentials: the token provider they feed and the hosts they may go to. A
/// rotation (new credentials from the source) replaces the state; the old one's provider is retired, so calls still
/// waiting on it finish.
/// </summary>
internal sealed class TenantState
{
    public TenantState(string tenant, M3terCredentials credentials, TokenProvider provider, TenantCache cache, long createdAtTicks)
    {
        Tenant = tenant;
        Credentials = credentials;
        Provider = provider;
        Options = provider.Replaceable().Options;
        Route = new AuthRoute(new HostScope(Options), new TenantTokenSource(cache, this), provider);
        IdleSinceTicks = createdAtTicks;
    }

    public string Tenant { get; }

    /// <summary>Whether <paramref name="other"/> sends its token to the same hosts (a rotation may also move a tenant to another server).</summary>
    public bool HasSameHostsAs(TenantState other) =>
        Options.BaseAddress == other.Options.BaseAddress
        && Options.IngestBaseAddress == other.Options.IngestBaseAddress;

    public M3terCredentials Credentials { get; }

    /// <summary>Gets the tenant's own token cache: single flight, refresh and remembered rejections, per tenant.</summary>
    public TokenProvider Provider { get; }

    /// <summary>Gets the options the provider runs with: these credentials, on the tenant's hosts.</summary>
    public M3terAuthOptions Options { get; }

    /// <summary>Gets what the handler sends with: the hosts of these credentials, and renewals through the tenant cache.</summary>
    public AuthRoute Route { get; }

    /// <summary>Whether the cache holds this state now (false once dropped, forgotten or replaced by a rotation).</summary>
    public volatile bool IsHeld;

    /// <summary>The use clock's value at the last use (written on the warm path, without a lock).</summary>
    public long LastUse;

    /// <summary>The <see cref="LastUse"/> the idle sweep saw last (under the cache's lock).</summary>
    public long SeenUse;

    /// <summary>Since when, at the latest, the tenant has been unused, as far as the sweep knows (under the cache's lock).</summary>
    public long IdleSinceTicks;

    /// <summary>The source asked again after m3ter refused these credentials: shared by the callers the refusal reached (under the cache's lock).</summary>
    public Task<TenantState?>? Recheck;

    /// <summary>When <see cref="Recheck"/> started.</summary>
    public long RecheckedAtTicks;
}
