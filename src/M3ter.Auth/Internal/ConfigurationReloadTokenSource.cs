using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;

namespace M3ter.Auth.Internal;

/// <summary>Tells <see cref="IOptionsMonitor{TOptions}"/> when the configuration behind a registration reloads; never, without one.</summary>
internal sealed class ConfigurationReloadTokenSource(string name, IConfiguration? configuration) : IOptionsChangeTokenSource<M3terAuthOptions>
{
    public string Name { get; } = name;

    public IChangeToken GetChangeToken() => configuration?.GetReloadToken() ?? Never;

    private static readonly IChangeToken Never = new CancellationChangeToken(System.Threading.CancellationToken.None);
}
