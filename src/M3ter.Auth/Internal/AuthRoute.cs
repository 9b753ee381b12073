namespace M3ter.Auth.Internal;

/// <summary>
/// Which hosts get a token and where it comes from, as one object: the handler reads both with one read, so a reload
/// that moves <see cref="M3terAuthOptions.BaseAddress"/> can never pair one server's token with another's hosts.
/// </summary>
/// <param name="scope">The hosts.</param>
/// <param name="provider">Where tokens come from, renewals included.</param>
/// <param name="cache">The in-memory cache behind <paramref name="provider"/>, which the warm path reads directly; by default <paramref name="provider"/> itself when it is a <see cref="TokenProvider"/>.</param>
internal sealed class AuthRoute(HostScope scope, ITokenProvider provider, TokenProvider? cache = null)
{
    public HostScope Scope { get; } = scope;

    public ITokenProvider Provider { get; } = provider;

    public TokenProvider? Cache { get; } = cache ?? provider as TokenProvider;
}
