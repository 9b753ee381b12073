using System;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http;

namespace M3ter.Auth.Internal;

/// <summary>
/// Keeps credentials out of IHttpClientFactory's own request logging. Its logging handlers write every request header
/// at Trace level, and on the 8.0 line of Microsoft.Extensions.Http nothing is redacted by default; the handler that
/// writes them runs after ours, so it would see the bearer token. This adds the credential headers to whatever the
/// client already redacts (post-configured, so a later <c>RedactLoggedHeaders</c> call cannot undo it).
/// </summary>
internal static class HeaderRedaction
{
    public static void RedactCredentials(IServiceCollection services, string clientName) =>
        services.PostConfigure<HttpClientFactoryOptions>(clientName, options =>
        {
            Func<string, bool> previous = options.ShouldRedactHeaderValue;
            options.ShouldRedactHeaderValue = header => IsCredential(header) || previous(header);
        });

    public static bool IsCredential(string header) =>
        string.Equals(header, "Authorization", StringComparison.OrdinalIgnoreCase)
        || string.Equals(header, "Proxy-Authorization", StringComparison.OrdinalIgnoreCase);
}
