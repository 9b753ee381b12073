using System;
using System.Linq;
using M3ter.Auth;
using M3ter.Auth.Internal;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers m3ter Service Authentication in an <see cref="IServiceCollection"/>.</summary>
public static class M3terAuthServiceCollectionExtensions
{
    /// <summary>
    /// Registers m3ter authentication configured from the environment variables <c>M3TER_API_KEY</c>,
    /// <c>M3TER_API_SECRET</c>, <c>M3TER_ORG_ID</c> and <c>M3TER_BASE_URL</c>, overridden by the <c>M3ter</c> section of
    /// the <see cref="IConfiguration"/> in the container, if there is one.
    /// </summary>
    /// <param name="services">The services.</param>
    /// <returns><paramref name="services"/>, for chaining.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> is null.</exception>
    /// <remarks>Resolve the token provider as <see cref="ITokenProvider"/>; wrap clients with <c>AddM3terAuthHandler()</c>.</remarks>
    public static IServiceCollection AddM3terAuth(this IServiceCollection services) =>
        AddM3terAuthCore(services, Microsoft.Extensions.Options.Options.DefaultName, configuration: null, configure: null);

    /// <summary>Registers m3ter authentication configured as <see cref="AddM3terAuth(IServiceCollection)"/> does, then by <paramref name="configure"/>.</summary>
    /// <param name="services">The services.</param>
    /// <param name="configure">Sets options; runs last, so it wins over configuration and environment variables.</param>
    /// <returns><paramref name="services"/>, for chaining.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> or <paramref name="configure"/> is null.</exception>
    public static IServiceCollection AddM3terAuth(this IServiceCollection services, Action<M3terAuthOptions> configure) =>
        AddM3terAuthCore(services, Microsoft.Extensions.Options.Options.DefaultName, configuration: null, configure ?? throw new ArgumentNullException(nameof(configure)));

    /// <summary>Registers m3ter authentication configured from the environment variables, overridden by <paramref name="configuration"/>.</summary>
    /// <param name="services">The services.</param>
    /// <param name="configuration">The section to read (keys <c>AccessKeyId</c>, <c>ApiSecret</c>, <c>OrganizationId</c>, <c>BaseAddress</c>, …); its reloads take effect without a restart.</param>
    /// <returns><paramref name="services"/>, for chaining.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> or <paramref name="configuration"/> is null.</exception>
    public static IServiceCollection AddM3terAuth(this IServiceCollection services, IConfiguration configuration) =>
        AddM3terAuthCore(services, Microsoft.Extensions.Options.Options.DefaultName, configuration ?? throw new ArgumentNullException(nameof(configuration)), configure: null);

    /// <summary>
    /// Registers a named m3ter authentication, for an application that acts as several service users or organizations.
    /// It reads the <c>M3ter:{name}</c> configuration section, then <paramref name="configure"/>; environment variables
    /// apply to the default registration only.
    /// </summary>
    /// <param name="services">The services.</param>
    /// <param name="name">The registration's name: resolve it with <c>GetRequiredKeyedService&lt;ITokenProvider&gt;(name)</c> and use it with <c>AddM3terAuthHandler(name)</c>.</param>
    /// <param name="configure">Sets options; runs last.</param>
    /// <returns><paramref name="services"/>, for chaining.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/>, <paramref name="name"/> or <paramref name="configure"/> is null.</exception>
    public static IServiceCollection AddM3terAuth(this IServiceCollection services, string name, Action<M3terAuthOptions> configure) =>
        AddM3terAuthCore(services, name ?? throw new ArgumentNullException(nameof(name)), configuration: null, configure ?? throw new ArgumentNullException(nameof(configure)));

    private static IServiceCollection AddM3terAuthCore(IServiceCollection services, string name, IConfiguration? configuration, Action<M3terAuthOptions>? configure)
    {
        if (services is null)
        {
            throw new ArgumentNullException(nameof(services));
        }

        OptionsBuilder<M3terAuthOptions> options = services.AddOptions<M3terAuthOptions>(name);
        if (!IsRegistered(services, name))
        {
            AddShared(services);
            services.AddSingleton(new RegistrationMarker(name));
            bool isDefault = name.Length == 0;
            if (isDefault)
            {
                options.Configure(M3terAuthConfiguration.ApplyEnvironment);
            }

            if (configuration is null)
            {
                string sectionPath = isDefault ? M3terAuthOptions.ConfigurationSectionName : M3terAuthOptions.ConfigurationSectionName + ":" + name;
                options.Configure<IServiceProvider>((o, sp) =>
                {
                    if (sp.GetService<IConfiguration>() is IConfiguration root)
                    {
                        M3terAuthConfiguration.ApplySection(o, root.GetSection(sectionPath));
                    }
                });
                services.AddSingleton<IOptionsChangeTokenSource<M3terAuthOptions>>(sp => new ConfigurationReloadTokenSource(name, sp.GetService<IConfiguration>()?.GetSection(sectionPath)));
            }

            options.ValidateOnStart();
            services.TryAddKeyedSingleton(name, static (sp, key) => new M3terAuthRegistration(
                (string)key!,
                sp.GetRequiredService<IOptionsMonitor<M3terAuthOptions>>(),
                sp.GetRequiredService<TokenProviderFactory>(),
                sp.GetRequiredService<RemainingLifetimeGauge>()));
            services.TryAddKeyedSingleton<ITokenProvider>(name, static (sp, key) => sp.GetRequiredKeyedService<M3terAuthRegistration>(key));
            if (isDefault)
            {
                services.TryAddSingleton<ITokenProvider>(static sp => sp.GetRequiredKeyedService<ITokenProvider>(Microsoft.Extensions.Options.Options.DefaultName));
            }
        }

        // An explicit section, on the first registration of a name or a later one, is read after the environment.
        if (configuration is not null)
        {
            options.Configure(o => M3terAuthConfiguration.ApplySection(o, configuration));
            services.AddSingleton<IOptionsChangeTokenSource<M3terAuthOptions>>(new ConfigurationReloadTokenSource(name, configuration));
        }

        if (configure is not null)
        {
            options.Configure(configure);
        }

        return services;
    }

    /// <summary>
    /// What every registration (and <c>AddM3terAuthTenants</c>) shares, added with the first: the validator, the clock, the warm-up service, the
    /// provider factory, the remaining-lifetime gauge and the token endpoint's own client (the factory and the gauge
    /// with <c>TryAdd</c>, so a test or another package can put its own in first). Once, however many names are registered: each call of <c>AddHttpClient</c> adds a
    /// configuration action, and each redaction wraps the last, so 500 names would otherwise run 500 actions whenever
    /// the token client is created.
    /// </summary>
    internal static void AddShared(IServiceCollection services)
    {
        if (services.Any(d => d.ServiceType == typeof(SharedServicesMarker)))
        {
            return;
        }

        services.AddSingleton(new SharedServicesMarker());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<M3terAuthOptions>, M3terAuthOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, M3terAuthWarmUpService>());
        services.AddLogging();
        services.TryAddSingleton(static sp => new TokenProviderFactory(sp, sp.GetRequiredService<System.Net.Http.IHttpClientFactory>(), sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILoggerFactory>()));
        services.TryAddSingleton(static sp => new RemainingLifetimeGauge(sp.GetService<System.Diagnostics.Metrics.IMeterFactory>()));

        // The token endpoint's own client: our per-attempt timeout governs, and its Basic credentials are never logged.
        services.AddHttpClient(TokenClient.HttpClientName, client => client.Timeout = System.Threading.Timeout.InfiniteTimeSpan);
        HeaderRedaction.RedactCredentials(services, TokenClient.HttpClientName);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IPostConfigureOptions<Microsoft.Extensions.Http.HttpClientFactoryOptions>, TokenClientPipeline>());
    }

    internal static bool IsRegistered(IServiceCollection services, string name) =>
        services.Any(d => d.ServiceType == typeof(RegistrationMarker) && d.ImplementationInstance is RegistrationMarker marker && marker.Name == name);

    /// <summary>Marks the shared services as added.</summary>
    private sealed class SharedServicesMarker
    {
    }
}
