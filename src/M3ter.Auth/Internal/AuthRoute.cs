namespace M3ter.Auth.Internal;

/// <summary>
/// Which hosts get a token and where it comes from, as one object: the handler reads both with one read, so a reload
/// that moves <see cref="M3terAuthOptions.BaseAddress"/> can never pair one server's token with another's hosts.
/// </summary>
internal sealed class AuthRoute(HostScope scope, ITokenProvider provider)
{
    public HostScope Scope { get; } = scope;

    public ITokenProvider Provider { get; } = provider;
}
