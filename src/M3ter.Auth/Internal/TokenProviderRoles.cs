namespace M3ter.Auth.Internal;

/// <summary>
/// A <see cref="TokenProvider"/> in the roles its owners use it in, besides <see cref="ITokenProvider"/>: the state it
/// reports (<see cref="ITokenStatusSource"/>) and the reload and retirement it goes through
/// (<see cref="IReplaceableTokenProvider"/>). Both are implemented explicitly, so the public type carries no second API.
/// </summary>
internal static class TokenProviderRoles
{
    /// <summary>The provider's state now.</summary>
    public static TokenStatus Status(this TokenProvider provider) => ((ITokenStatusSource)provider).GetStatus();

    /// <summary>The provider as its registration or tenant cache replaces and retires it.</summary>
    public static IReplaceableTokenProvider Replaceable(this TokenProvider provider) => provider;
}
