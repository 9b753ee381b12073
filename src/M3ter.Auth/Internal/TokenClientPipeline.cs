using System;
using System.Net.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace M3ter.Auth.Internal;

/// <summary>
/// Keeps the token client's pipeline M3ter.Auth's own. <c>ConfigureHttpClientDefaults</c> applies to every client,
/// the token client included, and .NET Aspire's service defaults add the standard resilience handler there. Nested
/// inside the token client's own retries, its retries multiply token requests (4 attempts of 3 each against a failing
/// endpoint), its 2-second back-off runs inside <see cref="M3terAuthOptions.TokenRequestTimeout"/>, and its circuit
/// breaker turns a transient failure into a permanent-looking one. So, after every other configuration (this is a
/// post-configure step), resilience handlers (Microsoft.Extensions.Http.Resilience's, and Microsoft.Extensions.Http.Polly's
/// policy handler) and the auth handler itself are removed from the token client only.
/// Other handlers (proxies, logging, test doubles) stay.
/// </summary>
internal sealed class TokenClientPipeline : IPostConfigureOptions<HttpClientFactoryOptions>
{
    /// <summary>
    /// The retrying handlers of Microsoft.Extensions.Http.Resilience and of its predecessor Microsoft.Extensions.Http.Polly
    /// (matched by name: the core depends on neither).
    /// </summary>
    private static readonly string[] ResilienceHandlerTypes =
    {
        "Microsoft.Extensions.Http.Resilience.ResilienceHandler",
        "Microsoft.Extensions.Http.PolicyHttpMessageHandler",
    };

    public void PostConfigure(string? name, HttpClientFactoryOptions options)
    {
        if (string.Equals(name, TokenClient.HttpClientName, StringComparison.Ordinal))
        {
            options.HttpMessageHandlerBuilderActions.Add(RemoveForeignHandlers);
        }
    }

    private static void RemoveForeignHandlers(HttpMessageHandlerBuilder builder)
    {
        ILogger? logger = null;
        for (int i = builder.AdditionalHandlers.Count - 1; i >= 0; i--)
        {
            DelegatingHandler handler = builder.AdditionalHandlers[i];
            if (handler is M3terAuthHandler || IsResilienceHandler(handler.GetType()))
            {
                builder.AdditionalHandlers.RemoveAt(i);
                handler.Dispose();
                logger ??= builder.Services.GetService<ILoggerFactory>()?.CreateLogger<TokenClient>();
                if (logger is not null)
                {
                    Log.TokenClientHandlerRemoved(logger, handler.GetType().Name);
                }
            }
        }
    }

    private static bool IsResilienceHandler(Type? type)
    {
        for (; type is not null && type != typeof(DelegatingHandler); type = type.BaseType)
        {
            if (Array.IndexOf(ResilienceHandlerTypes, type.FullName) >= 0)
            {
                return true;
            }
        }

        return false;
    }
}
