#!/usr/bin/env ruby
# frozen_string_literal: true

# Renders the templates of one BOSH job the way the director does, with links,
# so the release's templates can be tested (and deployed by the one-machine
# deployer) without the bosh-template gem, which is not available here.
#
#   ruby src/bosh-template/render.rb --job-dir jobs/<job> --context ctx.json --output-dir DIR
#
# ctx.json: {"properties": {...nested manifest properties of this job...},
#            "spec": {"id","index","az","address","ip","deployment","name","bootstrap","networks"},
#            "links": {"<name>": {"properties": {...}, "instances": [{...}], "address": "..."}}}
#
# Every template of the job spec's `templates:` map and the `monit` file are
# rendered into DIR (DIR/monit, DIR/<rendered path>). Nothing is printed on
# success; when a template raises, the template's name and the message go to
# stderr and the exit status is 1.

require 'erb'
require 'json'
require 'yaml'
require 'ostruct'
require 'fileutils'
require 'optparse'

module BoshTemplate
  # Raised when a template asks for a property that is neither set nor defaulted.
  class UnknownProperty < StandardError
    attr_reader :names

    def initialize(names)
      @names = names
      super("Can't find property '#{names.inspect}'")
    end
  end

  # Raised when a template asks for a link the instance does not consume.
  class UnknownLink < StandardError
    def initialize(name)
      super("Can't find link '#{name}'")
    end
  end

  # Raised with the template's name when rendering fails.
  class RenderError < StandardError
    attr_reader :template

    def initialize(template, cause)
      @template = template
      super("Error filling in template '#{template}': #{cause.message}")
    end
  end

  # Looks a dotted name up in nested hashes. Returns [found, value].
  def self.lookup(hash, name)
    value = hash
    name.split('.').each do |part|
      return [false, nil] unless value.is_a?(Hash) && value.key?(part)

      value = value[part]
    end
    [true, value]
  end

  # Sets a dotted name in nested hashes, creating the intermediate hashes.
  def self.assign(hash, name, value)
    parts = name.split('.')
    last = parts.pop
    parts.each do |part|
      hash[part] = {} unless hash[part].is_a?(Hash)
      hash = hash[part]
    end
    hash[last] = value
  end

  # The director gives a job only the properties its spec declares, each set
  # from the manifest or else from the spec's default (a property without a
  # default that the manifest does not set stays absent).
  def self.job_properties(spec_properties, manifest_properties)
    result = {}
    (spec_properties || {}).each do |name, definition|
      found, value = lookup(manifest_properties || {}, name)
      if found
        assign(result, name, deep_copy(value))
      elsif definition.is_a?(Hash) && definition.key?('default')
        assign(result, name, deep_copy(definition['default']))
      end
    end
    result
  end

  # The properties a provider job exposes through a link it provides: the
  # listed ones, from the job's resolved properties (defaults applied).
  def self.link_properties(job_dir, link_name, manifest_properties)
    spec = load_spec(job_dir)
    provided = (spec['provides'] || []).find { |l| l['name'] == link_name }
    raise ArgumentError, "job #{spec['name']} provides no link '#{link_name}'" unless provided

    resolved = job_properties(spec['properties'], manifest_properties)
    result = {}
    (provided['properties'] || []).each do |name|
      found, value = lookup(resolved, name)
      assign(result, name, value) if found
    end
    result
  end

  def self.deep_copy(value)
    Marshal.load(Marshal.dump(value))
  end

  def self.load_spec(job_dir)
    path = File.join(job_dir, 'spec')
    spec = YAML.safe_load(File.read(path), aliases: false)
    raise ArgumentError, "#{path}: not a job spec" unless spec.is_a?(Hash) && spec['name']

    spec
  end

  # The block-result object that `if_p` and `if_link` return: its `else`
  # runs only when the condition did not hold.
  class ElseBlock
    def initialize(active)
      @active = active
    end

    def else
      yield if @active
      nil
    end
  end

  # Shared property lookup of the evaluation context and of links.
  module PropertyLookup
    def p(*args)
      names = Array(args[0])
      names.each do |name|
        found, value = BoshTemplate.lookup(@raw_properties, name)
        return value if found && !value.nil?
      end
      return args[1] if args.length > 1

      raise UnknownProperty, names
    end

    def if_p(*names)
      values = names.map do |name|
        found, value = BoshTemplate.lookup(@raw_properties, name)
        return ElseBlock.new(true) unless found && !value.nil?

        value
      end
      yield(*values)
      ElseBlock.new(false)
    end
  end

  # One instance of a link's provider, as `link(...).instances` gives it.
  class LinkInstance
    attr_reader :name, :id, :index, :az, :address, :bootstrap

    def initialize(hash)
      @name = hash['name']
      @id = hash['id']
      @index = hash['index']
      @az = hash['az']
      @address = hash['address']
      @bootstrap = hash['bootstrap']
    end
  end

  # What `link(name)` returns.
  class Link
    include PropertyLookup
    attr_reader :name, :instances, :address, :properties

    def initialize(name, hash)
      @name = name
      @raw_properties = hash['properties'] || {}
      @properties = @raw_properties
      @instances = (hash['instances'] || []).map { |i| LinkInstance.new(i) }
      @address = hash['address']
    end
  end

  # The object templates are evaluated in.
  class EvaluationContext
    include PropertyLookup
    attr_reader :name, :index, :spec, :raw_properties

    def initialize(job_name, properties, spec_hash, links)
      @name = job_name
      @raw_properties = properties
      @links = links || {}
      spec_hash = BoshTemplate.deep_copy(spec_hash || {})
      spec_hash['job'] ||= { 'name' => job_name }
      spec_hash['properties'] = properties
      @index = spec_hash['index']
      @spec = to_open_struct(spec_hash)
    end

    def link(name)
      raise UnknownLink, name unless @links.key?(name)

      Link.new(name, @links[name])
    end

    def if_link(name)
      return ElseBlock.new(true) unless @links.key?(name)

      yield link(name)
      ElseBlock.new(false)
    end

    def get_binding
      binding
    end

    private

    # spec.networks.default.ip and the like read as in BOSH; hashes under
    # `properties` stay hashes.
    def to_open_struct(value, top: true)
      case value
      when Hash
        converted = value.each_with_object({}) do |(k, v), acc|
          acc[k] = top && k == 'properties' ? v : to_open_struct(v, top: false)
        end
        OpenStruct.new(converted)
      when Array
        value.map { |v| to_open_struct(v, top: false) }
      else
        value
      end
    end
  end

  # Renders the job in job_dir with the context hash into output_dir and
  # returns the list of rendered paths (relative to output_dir).
  def self.render_job(job_dir, context, output_dir)
    spec = load_spec(job_dir)
    properties = job_properties(spec['properties'], context['properties'])
    consumed = (spec['consumes'] || []).map { |l| l['name'] }
    links = (context['links'] || {}).select { |name, _| consumed.include?(name) }

    templates = { 'monit' => 'monit' }
    (spec['templates'] || {}).each { |src, dst| templates[File.join('templates', src)] = dst }

    rendered = []
    templates.each do |src, dst|
      source_path = File.join(job_dir, src)
      next if src == 'monit' && !File.exist?(source_path)

      ctx = EvaluationContext.new(spec['name'], properties, context['spec'], links)
      begin
        erb = ERB.new(File.read(source_path), trim_mode: '-')
        erb.filename = source_path
        text = erb.result(ctx.get_binding)
      rescue StandardError, ScriptError => e
        raise RenderError.new(src.sub(%r{\Atemplates/}, ''), e)
      end
      out = File.join(output_dir, dst)
      FileUtils.mkdir_p(File.dirname(out))
      File.write(out, text)
      File.chmod(dst.start_with?('bin/') ? 0o755 : 0o644, out)
      rendered << dst
    end
    rendered
  end

  def self.main(argv)
    options = {}
    parser = OptionParser.new do |o|
      o.banner = 'usage: render.rb --job-dir jobs/<job> --context ctx.json --output-dir DIR'
      o.on('--job-dir DIR') { |v| options[:job_dir] = v }
      o.on('--context FILE') { |v| options[:context] = v }
      o.on('--output-dir DIR') { |v| options[:output_dir] = v }
    end
    parser.parse!(argv)
    missing = %i[job_dir context output_dir].reject { |k| options[k] }
    unless missing.empty? && argv.empty?
      warn parser.banner
      return 2
    end

    context = JSON.parse(File.read(options[:context]))
    render_job(options[:job_dir], context, options[:output_dir])
    0
  rescue RenderError => e
    warn e.message
    1
  rescue StandardError => e
    warn "render.rb: #{e.message}"
    1
  end
end

exit(BoshTemplate.main(ARGV)) if $PROGRAM_NAME == __FILE__
